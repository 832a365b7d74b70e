//! A private PostgreSQL cluster run from the machine's installed PostgreSQL
//! binaries, used when the server is started without `DATABASE_URL`.
//!
//! Life cycle:
//!
//! * [`EmbeddedPostgres::start`] locates `initdb`/`postgres`, initialises the
//!   cluster on first use, starts the postmaster listening **only** on a unix
//!   socket inside a fresh private (0700) temporary directory, waits until it
//!   accepts connections and creates the `coves` database if it is missing.
//! * [`EmbeddedPostgres::stop`] performs a fast shutdown (SIGINT) and waits for
//!   the postmaster to exit, escalating to SIGQUIT and then SIGKILL.
//! * Dropping an [`EmbeddedPostgres`] that was not stopped signals the
//!   postmaster (best effort, bounded wait).
//!
//! Because the cluster never listens on TCP and its socket lives in a
//! directory only the cluster owner (and root) can enter, `trust`
//! authentication is safe here.
//!
//! PostgreSQL refuses to run as root. When this process runs as root, `initdb`
//! and `postgres` run as the `postgres` system user instead, which therefore
//! must be able to reach the data directory.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, geteuid};
use tokio::process::{Child, Command};

/// Database created for the application.
const DB_NAME: &str = "coves";
/// Bootstrap superuser created by `initdb -U`.
const SUPERUSER: &str = "postgres";
/// Maintenance database used for readiness checks and `CREATE DATABASE`.
const ADMIN_DB: &str = "postgres";
/// Only names the socket file (`.s.PGSQL.<port>`); nothing listens on TCP.
const PORT: u16 = 5432;
/// The longest unix socket path the kernel accepts (`sun_path` is 108 bytes,
/// including the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const READY_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Same default as `pg_ctl stop`.
const FAST_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);
const IMMEDIATE_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `Drop` blocks waiting for the postmaster to exit.
const DROP_WAIT: Duration = Duration::from_secs(5);
/// How long to wait for a postmaster left over from a previous run (e.g. one
/// that got its parent-death signal and is still shutting down) to go away.
const STALE_POSTMASTER_WAIT: Duration = Duration::from_secs(5);
const LOG_TAIL_LINES: usize = 30;

const INSTALL_HELP: &str = "install PostgreSQL (e.g. `apt-get install postgresql` on Debian/Ubuntu, \
     `dnf install postgresql-server` on Fedora, `brew install postgresql` on macOS), \
     or set PG_BIN_DIR to the directory containing `initdb` and `postgres`, \
     or set DATABASE_URL to use an existing PostgreSQL server instead of the embedded one";

/// A running private PostgreSQL cluster. See the module documentation.
pub struct EmbeddedPostgres {
    /// The postmaster; `None` once stopped.
    child: Option<Child>,
    database_url: String,
    data_dir: PathBuf,
    log_path: PathBuf,
    /// Private directory holding the server socket; removed after shutdown.
    socket_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for EmbeddedPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedPostgres")
            .field("pid", &self.pid())
            .field("database_url", &self.database_url)
            .field("data_dir", &self.data_dir)
            .field("log_path", &self.log_path)
            .finish()
    }
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use (`initdb`), starts `postgres`,
    /// waits until it accepts connections and creates the database `coves`
    /// if missing.
    ///
    /// The postmaster gets a parent-death signal (SIGINT, i.e. fast shutdown)
    /// tied to the *thread* that calls this function (that is how Linux
    /// `PR_SET_PDEATHSIG` works). Call it from a long-lived thread, such as
    /// the main thread or a runtime worker, never from inside
    /// `spawn_blocking`: blocking-pool threads exit when idle, which would
    /// shut PostgreSQL down.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        let started_at = Instant::now();
        let data_dir = std::path::absolute(data_dir)
            .with_context(|| format!("cannot resolve data directory path {}", data_dir.display()))?;
        let (Some(parent), Some(name)) = (data_dir.parent(), data_dir.file_name()) else {
            bail!(
                "invalid PostgreSQL data directory {}: give a path naming a directory, \
                 e.g. ./data/postgres",
                data_dir.display()
            );
        };
        let parent = parent.to_path_buf();
        let mut log_name = name.to_os_string();
        log_name.push(".log");
        let log_path = parent.join(log_name);

        let run_as = service_user()?;
        let initialised = data_dir.join("PG_VERSION").is_file();
        let cluster_version = if initialised { Some(read_cluster_version(&data_dir)?) } else { None };
        let bin = PgBinaries::locate(cluster_version.as_deref()).await?;

        if let Some(user) = &run_as {
            ensure_reachable(&data_dir, user)?;
        }
        create_parent_dirs(&parent, run_as.as_ref())?;
        let log = open_log(&log_path)?;

        tracing::info!(
            data_dir = %data_dir.display(),
            log = %log_path.display(),
            bin_dir = %bin.dir.display(),
            run_as = run_as.as_ref().map(|u| u.name.as_str()).unwrap_or("(current user)"),
            "starting embedded PostgreSQL"
        );

        if initialised {
            check_not_running(&data_dir).await?;
            if let Some(user) = &run_as {
                fix_ownership(&data_dir, user)?;
            }
        } else {
            initdb(&bin, &data_dir, run_as.as_ref(), &log, &log_path).await?;
        }
        ensure_private_mode(&data_dir)?;

        let socket_dir = create_socket_dir(run_as.as_ref())?;
        let socket_path = socket_dir.path().to_path_buf();
        let database_url = conninfo(&socket_path, DB_NAME)?;
        let admin_url = conninfo(&socket_path, ADMIN_DB)?;

        write_log_marker(&log, "starting postgres");
        let mut cmd = pg_command(&bin.postgres, run_as.as_ref(), &log, &data_dir)?;
        cmd.arg("-D").arg(&data_dir).arg("-k").arg(&socket_path).arg("-p").arg(PORT.to_string()).args([
            // Unix socket only: never listen on TCP (trust auth is enabled).
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_permissions=0700",
            "-c",
            "max_connections=100",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "fsync=on",
            // Log to stderr, which goes to `log_path`.
            "-c",
            "logging_collector=off",
        ]);
        // Spawned from the calling thread (not spawn_blocking): see `start`'s
        // docs and `set_parent_death_signal`.
        let child = cmd
            .spawn()
            .with_context(|| format!("failed to start {} (log: {})", bin.postgres.display(), log_path.display()))?;
        tracing::info!(
            pid = child.id(),
            socket_dir = %socket_path.display(),
            data_dir = %data_dir.display(),
            log = %log_path.display(),
            "PostgreSQL postmaster started"
        );

        let mut pg =
            EmbeddedPostgres { child: Some(child), database_url, data_dir, log_path, socket_dir: Some(socket_dir) };
        if let Err(err) = pg.finish_start(&admin_url).await {
            if let Err(stop_err) = pg.stop().await {
                tracing::debug!(error = %format!("{stop_err:#}"), "stopping PostgreSQL after failed start");
            }
            return Err(err);
        }
        tracing::info!(
            elapsed_ms = started_at.elapsed().as_millis() as u64,
            database_url = %pg.database_url,
            "embedded PostgreSQL is ready"
        );
        Ok(pg)
    }

    /// A libpq-style (`key=value`) connection string for the `coves`
    /// database, usable by diesel-async / tokio-postgres.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The cluster's data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file receiving the output of `initdb` and `postgres`.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The postmaster's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Fast shutdown (SIGINT to the postmaster) and wait for it to exit. If it
    /// has not exited after 60 s, escalate to SIGQUIT (immediate shutdown),
    /// then SIGKILL. Returns an error if an escalation was needed or the
    /// postmaster did not exit cleanly; the process is gone either way.
    pub async fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let started_at = Instant::now();
        let result = shut_down(&mut child, &self.log_path).await;
        if let Some(dir) = self.socket_dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(err) = dir.close() {
                tracing::warn!(socket_dir = %path.display(), error = %err, "could not remove PostgreSQL socket directory");
            }
        }
        if result.is_ok() {
            tracing::info!(
                elapsed_ms = started_at.elapsed().as_millis() as u64,
                data_dir = %self.data_dir.display(),
                "embedded PostgreSQL stopped"
            );
        }
        result
    }

    async fn finish_start(&mut self, admin_url: &str) -> Result<()> {
        let child = self.child.as_mut().ok_or_else(|| anyhow!("PostgreSQL is not running"))?;
        let mut conn = wait_until_ready(child, admin_url, &self.log_path).await?;
        create_database_if_missing(&mut conn).await
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        let Some(pid) = child.id() else {
            return;
        };
        tracing::warn!(pid, "EmbeddedPostgres dropped without stop(); requesting fast shutdown of PostgreSQL");
        if signal(pid, Signal::SIGINT).is_err() {
            return;
        }
        // Bounded, blocking wait: Drop cannot await.
        let deadline = Instant::now() + DROP_WAIT;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
        tracing::warn!(
            pid,
            log = %self.log_path.display(),
            "PostgreSQL is still shutting down; it will finish on its own"
        );
    }
}

/// Locations of the PostgreSQL server programs.
#[derive(Debug)]
struct PgBinaries {
    dir: PathBuf,
    initdb: PathBuf,
    postgres: PathBuf,
}

impl PgBinaries {
    fn in_dir(dir: &Path) -> Option<Self> {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        (is_executable(&initdb) && is_executable(&postgres)).then(|| PgBinaries {
            dir: dir.to_path_buf(),
            initdb,
            postgres,
        })
    }

    /// Finds the binaries: `PG_BIN_DIR`, then `pg_config --bindir`, then the
    /// newest `/usr/lib/postgresql/<version>/bin`, then `PATH`. For an
    /// existing cluster of another major version, the matching Debian
    /// installation is preferred unless `PG_BIN_DIR` is set.
    async fn locate(cluster_version: Option<&str>) -> Result<Self> {
        if let Some(dir) = std::env::var_os("PG_BIN_DIR").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            let bin = PgBinaries::in_dir(&dir).ok_or_else(|| {
                anyhow!(
                    "PG_BIN_DIR={} does not contain executable `initdb` and `postgres`; \
                     point it at PostgreSQL's bin directory, or unset it to search the \
                     usual locations",
                    dir.display()
                )
            })?;
            if let Some(version) = cluster_version {
                bin.check_version(version).await?;
            }
            return Ok(bin);
        }

        let bin = match pg_config_bindir().await.and_then(|d| PgBinaries::in_dir(&d)) {
            Some(bin) => Some(bin),
            None => debian_bin_dirs().iter().find_map(|d| PgBinaries::in_dir(d)).or_else(|| {
                std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                    .find_map(|d| PgBinaries::in_dir(&d))
            }),
        };
        let Some(bin) = bin else {
            bail!(
                "PostgreSQL server programs (`initdb`, `postgres`) were not found \
                 (searched PG_BIN_DIR, `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH). \
                 To fix: {INSTALL_HELP}."
            );
        };
        let Some(version) = cluster_version else {
            return Ok(bin);
        };
        if bin.version_matches(version).await != Some(false) {
            return Ok(bin);
        }
        let debian = Path::new("/usr/lib/postgresql").join(version).join("bin");
        if let Some(matching) = PgBinaries::in_dir(&debian) {
            tracing::info!(
                bin_dir = %matching.dir.display(),
                cluster_version = version,
                "using the PostgreSQL installation matching the existing cluster"
            );
            return Ok(matching);
        }
        bin.check_version(version).await?;
        Ok(bin)
    }

    /// `postgres --version` output, e.g. "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)".
    async fn version(&self) -> Option<String> {
        let out = Command::new(&self.postgres).arg("--version").stdin(Stdio::null()).output().await.ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Whether these binaries can run a cluster of major version
    /// `cluster_version` (the contents of `PG_VERSION`); `None` if unknown.
    async fn version_matches(&self, cluster_version: &str) -> Option<bool> {
        let version = self.version().await?;
        let number =
            version.split_once("(PostgreSQL)").map(|(_, rest)| rest).unwrap_or(&version).split_whitespace().next()?;
        let rest = number.strip_prefix(cluster_version);
        Some(rest.is_some_and(|r| !r.starts_with(|c: char| c.is_ascii_digit())))
    }

    async fn check_version(&self, cluster_version: &str) -> Result<()> {
        if self.version_matches(cluster_version).await == Some(false) {
            bail!(
                "the PostgreSQL data directory was created by PostgreSQL {cluster_version}, but the \
                 programs in {} are {}. Install PostgreSQL {cluster_version} (and set PG_BIN_DIR to \
                 its bin directory), upgrade the cluster with pg_upgrade, or choose another data \
                 directory with --data-dir / COVES_DATA_DIR",
                self.dir.display(),
                self.version().await.unwrap_or_default()
            );
        }
        Ok(())
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

async fn pg_config_bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").stdin(Stdio::null()).output().await.ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `/usr/lib/postgresql/<version>/bin`, newest version first.
fn debian_bin_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.split('.').map(|part| part.parse::<u32>().ok()).collect::<Option<Vec<u32>>>()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// The user to run PostgreSQL as: `None` (ourselves) unless we are root.
fn service_user() -> Result<Option<User>> {
    if !geteuid().is_root() {
        return Ok(None);
    }
    match User::from_name(SUPERUSER) {
        Ok(Some(user)) if !user.uid.is_root() => Ok(Some(user)),
        Ok(Some(_)) => bail!(
            "the `postgres` system user has uid 0; PostgreSQL refuses to run as root. \
             Give it its own uid, run Coves as a non-root user, or set DATABASE_URL"
        ),
        Ok(None) => bail!(
            "Coves is running as root, and PostgreSQL refuses to run as root, so the embedded \
             PostgreSQL runs as the `postgres` system user, but that user does not exist. Create \
             it (installing PostgreSQL, e.g. `apt-get install postgresql`, usually does; or \
             `useradd --system --home-dir /var/lib/postgresql postgres`), run Coves as a \
             non-root user, or set DATABASE_URL to use an existing PostgreSQL server"
        ),
        Err(err) => Err(err).context("failed to look up the `postgres` system user"),
    }
}

/// Creates the data directory's parent (where the log goes). When running as
/// root, directories created here get search permission for everyone so
/// that the `postgres` user can reach the data directory.
fn create_parent_dirs(parent: &Path, run_as: Option<&User>) -> Result<()> {
    let missing: Vec<PathBuf> = parent.ancestors().take_while(|p| !p.exists()).map(Path::to_path_buf).collect();
    fs::create_dir_all(parent).with_context(|| format!("cannot create directory {}", parent.display()))?;
    if run_as.is_some() {
        for dir in missing {
            let mode = fs::metadata(&dir)?.permissions().mode() & 0o7777;
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o011))
                .with_context(|| format!("cannot chmod {}", dir.display()))?;
        }
    }
    Ok(())
}

/// Checks that `user` can traverse every existing ancestor of `data_dir`.
/// Only the user's primary group counts: supplementary groups are dropped
/// when the child switches user.
fn ensure_reachable(data_dir: &Path, user: &User) -> Result<()> {
    if let Some(dir) = first_untraversable(data_dir, user) {
        let meta = fs::metadata(&dir).ok();
        bail!(
            "the embedded PostgreSQL runs as the `{name}` system user (PostgreSQL refuses to run \
             as root), but `{name}` cannot reach the data directory {data}: directory {dir} \
             (owner uid {owner}, mode {mode:o}) is not traversable by it. Choose a data directory \
             it can reach with --data-dir / COVES_DATA_DIR (e.g. /var/lib/coves/postgres), \
             allow traversal with `chmod o+x {dir}`, or set DATABASE_URL to use an existing \
             PostgreSQL server",
            name = user.name,
            data = data_dir.display(),
            dir = dir.display(),
            owner = meta.as_ref().map(|m| m.uid()).unwrap_or_default(),
            mode = meta.as_ref().map(|m| m.mode() & 0o7777).unwrap_or_default(),
        );
    }
    Ok(())
}

/// The outermost existing directory among the ancestors of `path` (lexical
/// and, if symlinks are involved, canonical) that `user` cannot search.
fn first_untraversable(path: &Path, user: &User) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        path.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).collect();
    dirs.reverse();
    if let Some(existing) = path.ancestors().skip(1).find(|p| p.exists())
        && let Ok(canonical) = fs::canonicalize(existing)
    {
        let mut canonical: Vec<PathBuf> = canonical.ancestors().map(Path::to_path_buf).collect();
        canonical.reverse();
        dirs.extend(canonical);
    }
    dirs.into_iter().find(|dir| {
        let Ok(meta) = fs::metadata(dir) else {
            return false; // does not exist (yet); we create it
        };
        let mode = meta.mode();
        let bit = if meta.uid() == user.uid.as_raw() {
            0o100
        } else if meta.gid() == user.gid.as_raw() {
            0o010
        } else {
            0o001
        };
        mode & bit == 0
    })
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open PostgreSQL log file {}", path.display()))
}

fn write_log_marker(mut log: &File, what: &str) {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f UTC");
    // Best effort: the marker only makes the log easier to read.
    let _ = writeln!(log, "---- {now} coves: {what} ----");
}

/// The last lines of the log, for error messages.
fn log_tail(path: &Path) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            lines[start..].join("\n")
        }
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}

fn with_log(message: String, log_path: &Path) -> anyhow::Error {
    anyhow!("{message}. Last lines of the PostgreSQL log {}:\n{}", log_path.display(), log_tail(log_path))
}

fn read_cluster_version(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("PG_VERSION");
    Ok(fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?.trim().to_owned())
}

/// A command for a PostgreSQL program: output to the log, own process
/// group, parent-death signal, and (as root) the `postgres` user.
fn pg_command(program: &Path, run_as: Option<&User>, log: &File, cwd: &Path) -> Result<Command> {
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        // Entered after switching user (which happens first in the child).
        .current_dir(cwd)
        .env_remove("PGDATA")
        .env("LC_ALL", "C")
        // Own process group: a terminal Ctrl-C reaches only our server, which
        // then stops PostgreSQL after finishing its own shutdown.
        .process_group(0)
        .kill_on_drop(false);
    if let Some(user) = run_as {
        cmd.uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .env("HOME", &user.dir)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name);
    }
    set_parent_death_signal(&mut cmd);
    Ok(cmd)
}

/// Makes the kernel send SIGINT (PostgreSQL's fast shutdown) to the child when
/// our process dies, even by SIGKILL, so no PostgreSQL is left behind.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that spawned the child exits,
/// not the process, so the child must be spawned directly from the calling
/// task's thread (never via `spawn_blocking`, whose threads exit when idle).
/// The setting survives `execve` of a non-setuid binary and is cleared by
/// credential changes, which is why it is set in `pre_exec`: the standard
/// library switches uid/gid *before* running `pre_exec` hooks.
#[cfg(target_os = "linux")]
fn set_parent_death_signal(cmd: &mut Command) {
    let parent = nix::unistd::getpid();
    // `pre_exec` is unsafe because the closure runs in the forked child
    // before exec, where only async-signal-safe operations are allowed. The
    // closure only makes the prctl(2) and getppid(2) syscalls and builds an
    // io::Error from an errno, which does not allocate.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(io::Error::from)?;
            // If we died between fork and prctl, the signal was missed.
            if nix::unistd::getppid() != parent {
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_cmd: &mut Command) {}

/// Runs `initdb`. A fresh cluster is built in a sibling temporary directory
/// and renamed into place, so an interrupted `initdb` never leaves a
/// half-initialised data directory behind.
async fn initdb(bin: &PgBinaries, data_dir: &Path, run_as: Option<&User>, log: &File, log_path: &Path) -> Result<()> {
    let in_place = data_dir.exists();
    let target = if in_place {
        let mut entries = fs::read_dir(data_dir)
            .with_context(|| format!("cannot read PostgreSQL data directory {}", data_dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty, but is not a PostgreSQL data directory (it has no \
                 PG_VERSION file). Empty or remove it, or choose another data directory with \
                 --data-dir / COVES_DATA_DIR",
                data_dir.display()
            );
        }
        data_dir.to_path_buf()
    } else {
        let mut name = OsString::from(".");
        name.push(data_dir.file_name().unwrap_or_default());
        name.push(".initdb-tmp");
        let tmp = data_dir.with_file_name(name);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove leftover {}", tmp.display()))?;
        }
        fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        tmp
    };
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot chmod {}", target.display()))?;
    if let Some(user) = run_as {
        chown_recursive(&target, user)?;
    }

    tracing::info!(data_dir = %data_dir.display(), log = %log_path.display(), "initialising a new PostgreSQL cluster (initdb)");
    let started_at = Instant::now();
    write_log_marker(log, &format!("running initdb in {} (to become {})", target.display(), data_dir.display()));
    let status = pg_command(&bin.initdb, run_as, log, &target)?
        .arg("-D")
        .arg(&target)
        .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C"])
        .kill_on_drop(true)
        .status()
        .await
        .with_context(|| format!("failed to run {}", bin.initdb.display()))?;
    if !status.success() {
        if !in_place {
            let _ = fs::remove_dir_all(&target);
        }
        return Err(with_log(format!("initdb failed ({status})"), log_path));
    }
    if !in_place {
        fs::rename(&target, data_dir)
            .with_context(|| format!("cannot rename {} to {}", target.display(), data_dir.display()))?;
    }
    tracing::info!(elapsed_ms = started_at.elapsed().as_millis() as u64, "initdb finished");
    Ok(())
}

/// Fails if a live postmaster from elsewhere owns the data directory. A
/// `postmaster.pid` left by a crash (pid not alive) is handled by PostgreSQL.
async fn check_not_running(data_dir: &Path) -> Result<()> {
    let pid_file = data_dir.join("postmaster.pid");
    let Ok(contents) = fs::read_to_string(&pid_file) else {
        return Ok(());
    };
    let Some(pid) = contents.lines().next().and_then(|l| l.trim().parse::<i32>().ok()).filter(|pid| *pid > 0) else {
        return Ok(());
    };
    // A postmaster we did not start may be one left by a previous run that
    // got its parent-death signal and is still shutting down: give it a
    // moment. One started by this very process is certainly running.
    let ours = parent_pid(pid) == Some(std::process::id());
    let deadline = Instant::now() + STALE_POSTMASTER_WAIT;
    while is_live_postgres(pid) {
        if ours || Instant::now() >= deadline {
            bail!(
                "PostgreSQL is already running on data directory {} (postmaster pid {pid}, see \
                 {}). Another Coves server or another PostgreSQL is using it: stop it first \
                 (e.g. `kill -INT {pid}`), choose another data directory with --data-dir / \
                 COVES_DATA_DIR, or set DATABASE_URL to use that server",
                data_dir.display(),
                pid_file.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Whether `pid` is a live (not zombie) process that looks like PostgreSQL.
fn is_live_postgres(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true; // cannot tell; assume it is
    };
    // "pid (comm) state ...": comm may contain spaces or parentheses.
    let Some((head, tail)) = stat.rsplit_once(')') else {
        return true;
    };
    let comm = head.split_once('(').map(|(_, c)| c).unwrap_or_default();
    let state = tail.split_whitespace().next().unwrap_or_default();
    state != "Z" && state != "X" && (comm == "postgres" || comm == "postmaster")
}

/// The parent process id of `pid`, from `/proc/<pid>/stat`.
fn parent_pid(pid: i32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, tail) = stat.rsplit_once(')')?;
    tail.split_whitespace().nth(1)?.parse().ok()
}

/// When running as root, makes sure an existing cluster belongs to the
/// `postgres` user (e.g. after it was copied or restored by root).
fn fix_ownership(data_dir: &Path, user: &User) -> Result<()> {
    let meta = fs::metadata(data_dir).with_context(|| format!("cannot stat {}", data_dir.display()))?;
    if meta.uid() != user.uid.as_raw() {
        tracing::warn!(
            data_dir = %data_dir.display(),
            owner_uid = meta.uid(),
            user = %user.name,
            "PostgreSQL data directory is not owned by the postgres user; changing its ownership"
        );
        chown_recursive(data_dir, user)?;
    }
    Ok(())
}

/// `chown -R` without following symlinks.
fn chown_recursive(path: &Path, user: &User) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .with_context(|| format!("cannot chown {} to {}", path.display(), user.name))?;
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_recursive(&entry?.path(), user)?;
        }
    }
    Ok(())
}

/// PostgreSQL requires the data directory to be 0700 (or 0750).
fn ensure_private_mode(data_dir: &Path) -> Result<()> {
    let mode =
        fs::metadata(data_dir).with_context(|| format!("cannot stat {}", data_dir.display()))?.permissions().mode()
            & 0o7777;
    if mode != 0o700 && mode != 0o750 {
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot chmod {}", data_dir.display()))?;
    }
    Ok(())
}

/// A fresh private directory for the server socket, short enough for a unix
/// socket path and reachable by the user PostgreSQL runs as.
fn create_socket_dir(run_as: Option<&User>) -> Result<tempfile::TempDir> {
    let socket_file = format!(".s.PGSQL.{PORT}");
    let mut bases = vec![std::env::temp_dir()];
    if bases[0] != Path::new("/tmp") {
        bases.push(PathBuf::from("/tmp"));
    }
    let mut problems = Vec::new();
    for base in bases {
        if let Some(user) = run_as
            && let Some(dir) = first_untraversable(&base.join("x"), user)
        {
            problems.push(format!("{} is not traversable by {}", dir.display(), user.name));
            continue;
        }
        let dir = match tempfile::Builder::new().prefix("coves-pg-").tempdir_in(&base) {
            Ok(dir) => dir,
            Err(err) => {
                problems.push(format!("cannot create a directory in {}: {err}", base.display()));
                continue;
            }
        };
        let Some(path) = dir.path().to_str() else {
            problems.push(format!("{} is not valid UTF-8", dir.path().display()));
            continue;
        };
        if path.len() + 1 + socket_file.len() > MAX_SOCKET_PATH {
            problems.push(format!("{path} is too long for a unix socket path"));
            continue;
        }
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))?;
        if let Some(user) = run_as {
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid))
                .with_context(|| format!("cannot chown {} to {}", path, user.name))?;
        }
        return Ok(dir);
    }
    bail!(
        "cannot create a directory for the PostgreSQL socket: {}. Set TMPDIR to a short \
         directory everyone can traverse, such as /tmp",
        problems.join("; ")
    )
}

/// A `key=value` connection string for the socket in `socket_dir`.
fn conninfo(socket_dir: &Path, dbname: &str) -> Result<String> {
    let host = socket_dir.to_str().ok_or_else(|| anyhow!("socket directory {} is not UTF-8", socket_dir.display()))?;
    Ok(format!(
        "host={} port={PORT} user={SUPERUSER} dbname={}",
        quote_conninfo_value(host),
        quote_conninfo_value(dbname)
    ))
}

fn quote_conninfo_value(value: &str) -> String {
    if !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c == '\'' || c == '\\' || c == '=') {
        return value.to_owned();
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

async fn wait_until_ready(child: &mut Child, admin_url: &str, log_path: &Path) -> Result<AsyncPgConnection> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(with_log(format!("PostgreSQL exited during startup ({status})"), log_path));
        }
        let last_error =
            match tokio::time::timeout(CONNECT_ATTEMPT_TIMEOUT, AsyncPgConnection::establish(admin_url)).await {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(err)) => err.to_string(),
                Err(_) => "connection attempt timed out".to_owned(),
            };
        if Instant::now() >= deadline {
            return Err(with_log(
                format!(
                    "PostgreSQL did not accept connections within {} s (last error: {last_error})",
                    READY_TIMEOUT.as_secs()
                ),
                log_path,
            ));
        }
        tokio::time::sleep(READY_POLL_INTERVAL).await;
    }
}

#[derive(QueryableByName)]
struct DatabaseExists {
    #[diesel(sql_type = Bool)]
    present: bool,
}

async fn create_database_if_missing(conn: &mut AsyncPgConnection) -> Result<()> {
    let row: DatabaseExists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS present")
            .bind::<Text, _>(DB_NAME)
            .get_result(conn)
            .await
            .context("cannot query pg_database")?;
    if !row.present {
        diesel::sql_query(format!("CREATE DATABASE {DB_NAME}"))
            .execute(conn)
            .await
            .with_context(|| format!("cannot create database {DB_NAME}"))?;
        tracing::info!(database = DB_NAME, "created database");
    }
    // Dropping a connection closes its socket at once, while the server may
    // still be answering the `Close` messages of the statements used above;
    // it then logs "could not send data to client: Broken pipe". A last
    // simple-protocol round trip lets it finish first.
    conn.batch_execute("SELECT 1").await.context("cannot talk to PostgreSQL")?;
    Ok(())
}

fn signal(pid: u32, sig: Signal) -> nix::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| Errno::EINVAL)?;
    kill(Pid::from_raw(pid), sig)
}

async fn shut_down(child: &mut Child, log_path: &Path) -> Result<()> {
    if let Some(status) = child.try_wait()? {
        return Err(with_log(format!("PostgreSQL had already exited ({status}) before shutdown"), log_path));
    }
    let pid = child.id().ok_or_else(|| anyhow!("PostgreSQL process id unavailable"))?;

    tracing::info!(pid, "stopping embedded PostgreSQL (fast shutdown)");
    signal(pid, Signal::SIGINT).context("cannot signal PostgreSQL")?;
    if let Ok(status) = tokio::time::timeout(FAST_SHUTDOWN_TIMEOUT, child.wait()).await {
        let status = status?;
        if status.success() {
            return Ok(());
        }
        return Err(with_log(format!("PostgreSQL exited with {status} during shutdown"), log_path));
    }

    tracing::warn!(
        pid,
        "PostgreSQL did not stop within {} s; sending SIGQUIT (immediate shutdown)",
        FAST_SHUTDOWN_TIMEOUT.as_secs()
    );
    signal(pid, Signal::SIGQUIT).context("cannot signal PostgreSQL")?;
    if let Ok(status) = tokio::time::timeout(IMMEDIATE_SHUTDOWN_TIMEOUT, child.wait()).await {
        status?;
        return Err(with_log(
            format!(
                "PostgreSQL did not finish a fast shutdown within {} s and was stopped with an \
                 immediate shutdown (SIGQUIT); it will run crash recovery on next start",
                FAST_SHUTDOWN_TIMEOUT.as_secs()
            ),
            log_path,
        ));
    }

    tracing::warn!(pid, "PostgreSQL ignored SIGQUIT; killing it");
    child.kill().await.context("cannot kill PostgreSQL")?;
    Err(with_log(
        "PostgreSQL did not shut down and was killed with SIGKILL; it will run crash recovery \
         on next start"
            .to_owned(),
        log_path,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_quotes_only_when_needed() {
        assert_eq!(quote_conninfo_value("/tmp/coves-pg-abc"), "/tmp/coves-pg-abc");
        assert_eq!(quote_conninfo_value("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(quote_conninfo_value(r"it's\"), r"'it\'s\\'");
        assert_eq!(quote_conninfo_value(""), "''");
    }

    #[test]
    fn conninfo_format() -> Result<()> {
        assert_eq!(
            conninfo(Path::new("/tmp/coves-pg-x"), "coves")?,
            "host=/tmp/coves-pg-x port=5432 user=postgres dbname=coves"
        );
        Ok(())
    }
}
