//! One fresh PostgreSQL database per test, cloned from a template migrated once.
//!
//! `TEST_DATABASE_URL` names the server (default: the local cluster as `postgres`). The
//! template's name carries a hash of `migrations/`, so editing a migration rebuilds it.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use coves_plugin_api::Plugin;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin connection URL of the test server.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

fn url_for(database: &str) -> String {
    coves_appview::db::database_url_on(&server_url(), database)
}

/// A database of its own, dropped when the value is.
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// A fresh database with every linked plugin's migrations applied.
    pub async fn new() -> Self {
        Self::try_new().await.expect("creating a test database (is PostgreSQL running? see README)")
    }

    async fn try_new() -> anyhow::Result<Self> {
        let template = template().await?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!("coves_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut admin = AsyncPgConnection::establish(&server_url()).await?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await?;
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin).await?;
        Ok(Self { url: url_for(&name), name })
    }

    /// A database with no migrations at all (for migration tests).
    pub async fn empty() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!("coves_empty_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut admin = AsyncPgConnection::establish(&server_url()).await.expect("connecting to PostgreSQL");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await.expect("drop");
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create");
        Self { url: url_for(&name), name }
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new connection to it.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.expect("connecting to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; use a private runtime on a plain thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&server_url()).await?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// The migrated template database's name, created once per process (and shared by
/// concurrent test processes through an advisory lock).
async fn template() -> anyhow::Result<String> {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE.get_or_try_init(create_template).await.cloned()
}

async fn create_template() -> anyhow::Result<String> {
    let name = format!("coves_tmpl_{:016x}", migrations_hash()?);
    let mut admin = AsyncPgConnection::establish(&server_url()).await.context("connecting to the test server")?;
    diesel::sql_query("SELECT pg_advisory_lock(727274)").execute(&mut admin).await?;
    let result = async {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let exists = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(&name)
            .get_result::<Count>(&mut admin)
            .await?
            .n
            > 0;
        if !exists {
            let partial = format!("{name}_partial");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {partial}")).execute(&mut admin).await?;
            diesel::sql_query(format!("CREATE DATABASE {partial}")).execute(&mut admin).await?;
            let plugins = linked_plugins();
            coves_appview::db::migrate::run(&url_for(&partial), &plugins).await?;
            // Renaming last means a template that exists is always complete.
            diesel::sql_query(format!("ALTER DATABASE {partial} RENAME TO {name}")).execute(&mut admin).await?;
        }
        anyhow::Ok(())
    }
    .await;
    diesel::sql_query("SELECT pg_advisory_unlock(727274)").execute(&mut admin).await?;
    result?;
    Ok(name)
}

/// The plugins linked into the server binary, ordered.
pub fn linked_plugins() -> Vec<&'static dyn Plugin> {
    coves_appview::plugins::linked().expect("the linked plugin set is valid")
}

fn migrations_hash() -> anyhow::Result<u64> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files = Vec::new();
    collect_files(&root, &mut files)?;
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file)?.hash(&mut hasher);
    }
    Ok(hasher.finish())
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() { collect_files(&path, out)? } else { out.push(path) }
    }
    Ok(())
}
