//! Runs the core migrations, then each plugin's, in plugin order.
//!
//! All owners share diesel's `__diesel_schema_migrations` table; diesel would silently
//! skip a migration whose version another owner already applied, so versions carry the
//! owner's name and [`check_unique_versions`] refuses to start on a clash.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow};
use coves_plugin_api::Plugin;
use diesel::Connection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The server's own tables (ingest cursor, identity cache, ...).
pub static CORE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/core");

/// `MigrationSource` is implemented for owned `EmbeddedMigrations` only.
struct EmbeddedSource(&'static EmbeddedMigrations);

impl MigrationSource<Pg> for EmbeddedSource {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<Pg>>>> {
        MigrationSource::<Pg>::migrations(self.0)
    }
}

/// Every migration source in the order it is applied: `core`, then each plugin.
pub fn sources(plugins: &[&'static dyn Plugin]) -> Vec<(&'static str, &'static EmbeddedMigrations)> {
    std::iter::once(("core", &CORE_MIGRATIONS))
        .chain(plugins.iter().filter_map(|p| p.migrations().map(|m| (p.name(), m))))
        .collect()
}

/// Fails when two migrations share a version, or a version does not name its owner.
pub fn check_unique_versions(plugins: &[&'static dyn Plugin]) -> anyhow::Result<()> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (owner, source) in sources(plugins) {
        let migrations = MigrationSource::<Pg>::migrations(source).map_err(|e| anyhow!("{owner}: {e}"))?;
        for migration in migrations {
            let version = migration.name().version().to_string();
            // diesel's version is the folder name up to the first `_`, dashes removed.
            if !version.ends_with(owner) {
                return Err(anyhow!(
                    "migration {} of `{owner}` must be named <date>-<time>-{owner}_<what> so its version names its owner",
                    migration.name()
                ));
            }
            if let Some(other) = seen.insert(version.clone(), owner) {
                return Err(anyhow!("migration version {version} is used by both `{other}` and `{owner}`"));
            }
        }
    }
    Ok(())
}

/// Applies every pending migration; returns the names of those applied.
pub async fn run(database_url: &str, plugins: &[&'static dyn Plugin]) -> anyhow::Result<Vec<String>> {
    check_unique_versions(plugins)?;
    let url = database_url.to_owned();
    let sources = sources(plugins);
    // diesel_migrations is synchronous; run it on a blocking thread over the async connection.
    tokio::task::spawn_blocking(move || {
        let mut conn =
            AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url).context("connecting to run migrations")?;
        let mut applied = Vec::new();
        for (owner, source) in sources {
            let done = conn
                .run_pending_migrations(EmbeddedSource(source))
                .map_err(|e| anyhow!("migrations of `{owner}`: {e}"))?;
            applied.extend(done.into_iter().map(|v| v.to_string()));
        }
        Ok(applied)
    })
    .await
    .context("migration task panicked")?
}

/// Reverts every applied migration, newest owner first (used by the up-down-up test).
pub async fn revert_all(database_url: &str, plugins: &[&'static dyn Plugin]) -> anyhow::Result<usize> {
    let url = database_url.to_owned();
    let sources = sources(plugins);
    tokio::task::spawn_blocking(move || {
        let mut conn =
            AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url).context("connecting to revert migrations")?;
        let applied: std::collections::HashSet<String> =
            conn.applied_migrations().map_err(|e| anyhow!("{e}"))?.into_iter().map(|v| v.to_string()).collect();
        let mut reverted = 0;
        // revert_all_migrations() refuses versions of other owners, so revert one by one.
        for (owner, source) in sources.into_iter().rev() {
            let mut migrations = MigrationSource::<Pg>::migrations(source).map_err(|e| anyhow!("{owner}: {e}"))?;
            migrations.sort_by_key(|m| m.name().version().to_string());
            for migration in migrations.iter().rev().filter(|m| applied.contains(&m.name().version().to_string())) {
                conn.revert_migration(migration.as_ref())
                    .map_err(|e| anyhow!("reverting {}: {e}", migration.name()))?;
                reverted += 1;
            }
        }
        Ok(reverted)
    })
    .await
    .context("migration task panicked")?
}
