//! Starts, uses, stops and restarts an embedded PostgreSQL cluster. Needs the
//! PostgreSQL server programs to be installed (see `EmbeddedPostgres::start`).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use coves_appview::db::embedded::EmbeddedPostgres;
use diesel::QueryableByName;
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{Pid, User, geteuid};

/// Printed by initdb once per cluster initialisation.
const INITDB_BANNER: &str = "The files belonging to this database system";

#[derive(QueryableByName)]
struct IntRow {
    #[diesel(sql_type = Integer)]
    value: i32,
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    value: String,
}

/// A temporary directory under /tmp that the `postgres` user can traverse
/// when the tests run as root (the cluster runs as `postgres` then).
fn test_dir() -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("coves-embedded-pg-test-").tempdir_in("/tmp")?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

fn postmaster_pid(data_dir: &Path) -> Result<i32> {
    let contents = fs::read_to_string(data_dir.join("postmaster.pid"))?;
    contents.lines().next().context("empty postmaster.pid")?.trim().parse().context("bad pid in postmaster.pid")
}

fn alive(pid: i32) -> bool {
    matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM))
}

/// Processes whose working directory is `dir` (every PostgreSQL process
/// chdirs into its data directory).
fn processes_in(dir: &Path) -> Vec<i32> {
    let Ok(dir) = fs::canonicalize(dir) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/cwd")).ok() == Some(dir.clone()))
        .collect()
}

fn initdb_runs(log_path: &Path) -> Result<usize> {
    Ok(fs::read_to_string(log_path)?.matches(INITDB_BANNER).count())
}

#[tokio::test]
async fn start_query_stop_restart() -> Result<()> {
    let tmp = test_dir()?;
    let data_dir: PathBuf = tmp.path().join("pgdata");

    // First start: initdb + start + CREATE DATABASE coves.
    let t = Instant::now();
    let pg = EmbeddedPostgres::start(&data_dir).await?;
    eprintln!("first start (with initdb): {:?}", t.elapsed());
    eprintln!("database_url: {}", pg.database_url());
    let log_path = pg.log_path().to_path_buf();
    assert_eq!(log_path, tmp.path().join("pgdata.log"));
    assert_eq!(initdb_runs(&log_path)?, 1);

    let meta = fs::metadata(&data_dir)?;
    assert_eq!(meta.mode() & 0o777, 0o700, "data dir must be private");
    if geteuid().is_root() {
        let user = User::from_name("postgres")?.context("no postgres user")?;
        assert_eq!(meta.uid(), user.uid.as_raw(), "data dir must belong to postgres");
    }

    let mut conn = AsyncPgConnection::establish(pg.database_url()).await?;
    let row: IntRow = diesel::sql_query("SELECT 1 AS value").get_result(&mut conn).await?;
    assert_eq!(row.value, 1);
    let row: TextRow = diesel::sql_query("SELECT current_database()::text AS value").get_result(&mut conn).await?;
    assert_eq!(row.value, "coves");
    diesel::sql_query("CREATE TABLE survives_restart (value text NOT NULL)").execute(&mut conn).await?;
    diesel::sql_query("INSERT INTO survives_restart VALUES ('first run')").execute(&mut conn).await?;
    // Nothing listens on TCP.
    let row: TextRow =
        diesel::sql_query("SELECT current_setting('listen_addresses') AS value").get_result(&mut conn).await?;
    assert_eq!(row.value, "");
    drop(conn);

    // A second server on the same data directory is refused clearly.
    let err = EmbeddedPostgres::start(&data_dir).await.expect_err("second postmaster on the same data dir must fail");
    let message = format!("{err:#}");
    assert!(message.contains("already running"), "{message}");

    let pid = postmaster_pid(&data_dir)?;
    assert!(alive(pid));
    assert_eq!(pg.pid(), u32::try_from(pid).ok());
    assert!(!processes_in(&data_dir).is_empty());
    let t = Instant::now();
    pg.stop().await?;
    eprintln!("stop: {:?}", t.elapsed());
    assert!(!alive(pid), "postmaster {pid} still alive after stop");
    assert!(!data_dir.join("postmaster.pid").exists());
    assert_eq!(processes_in(&data_dir), Vec::<i32>::new());

    // Second start on the same data directory: no initdb, data kept.
    let t = Instant::now();
    let pg = EmbeddedPostgres::start(&data_dir).await?;
    eprintln!("second start (no initdb): {:?}", t.elapsed());
    assert_eq!(initdb_runs(&log_path)?, 1, "second start must skip initdb");
    let mut conn = AsyncPgConnection::establish(pg.database_url()).await?;
    let row: TextRow = diesel::sql_query("SELECT value FROM survives_restart").get_result(&mut conn).await?;
    assert_eq!(row.value, "first run");
    drop(conn);
    let pid = postmaster_pid(&data_dir)?;
    let t = Instant::now();
    pg.stop().await?;
    eprintln!("second stop: {:?}", t.elapsed());
    assert!(!alive(pid));
    assert_eq!(processes_in(&data_dir), Vec::<i32>::new());

    tmp.close()?;
    Ok(())
}

#[tokio::test]
async fn drop_without_stop_shuts_postgres_down() -> Result<()> {
    let tmp = test_dir()?;
    let data_dir = tmp.path().join("pgdata");
    let pg = EmbeddedPostgres::start(&data_dir).await?;
    let pid = postmaster_pid(&data_dir)?;
    assert!(alive(pid));
    let t = Instant::now();
    drop(pg);
    eprintln!("drop: {:?}", t.elapsed());
    assert!(!alive(pid), "postmaster {pid} still alive after drop");
    assert_eq!(processes_in(&data_dir), Vec::<i32>::new());
    tmp.close()?;
    Ok(())
}
