//! The processes under test, as an operator runs them: a release `serve --role api` child
//! (GraphQL websockets) and a `serve --role ingest` child (Jetstream consumer) on the same
//! database, and what `/proc` says about them (resident memory, CPU time).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running `serve` child process.
pub struct ServerProcess {
    role: &'static str,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pid: u32,
    child: tokio::process::Child,
    /// The child's stderr (warnings and errors), kept for a post-mortem.
    log: PathBuf,
}

/// The API child's live-subscription settings.
pub struct LiveSettings {
    /// `LIVE_COALESCE_WINDOW`, as given (e.g. `100ms`).
    pub coalesce_window: String,
    /// `LIVE_MAX_SUBSCRIPTIONS`.
    pub max_subscriptions: usize,
    /// `LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION`.
    pub max_per_connection: usize,
}

impl ServerProcess {
    /// Starts `serve --role api` and waits until `/ready` answers.
    pub async fn api(database_url: &str, live: &LiveSettings) -> anyhow::Result<Self> {
        let mut command = command("api", database_url)?;
        command
            .env("LIVE_COALESCE_WINDOW", &live.coalesce_window)
            .env("LIVE_MAX_SUBSCRIPTIONS", live.max_subscriptions.to_string())
            .env("LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION", live.max_per_connection.to_string());
        Self::spawn("api", command, "/ready").await
    }

    /// Starts `serve --role ingest` following `jetstream_url` and waits until `/health`
    /// answers.
    pub async fn ingest(database_url: &str, jetstream_url: &str) -> anyhow::Result<Self> {
        let mut command = command("ingest", database_url)?;
        command.args(["--jetstream-url", jetstream_url, "--jetstream-compress", "false"]);
        Self::spawn("ingest", command, "/health").await
    }

    async fn spawn(role: &'static str, mut command: tokio::process::Command, ready: &str) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!("coves-bench-live-{role}-{}.log", std::process::id()));
        let child = command
            .args(["--listen-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the {role} process"))?;
        let pid = child.id().context("the child has no pid")?;
        let mut process = Self { role, base: format!("http://127.0.0.1:{port}"), pid, child, log };
        process.wait_for(ready).await?;
        Ok(process)
    }

    async fn wait_for(&mut self, path: &str) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = client.get(format!("{}{path}", self.base)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the {} process exited early ({status}); see {}", self.role, self.log.display());
            }
            if Instant::now() > deadline {
                bail!("the {} process did not answer {path} within 60 s; see {}", self.role, self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fails if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the {} process exited ({status}); see {}", self.role, self.log.display());
        }
        Ok(())
    }

    /// The sum of a Prometheus counter's series on `/metrics`.
    pub async fn metric(&self, client: &reqwest::Client, name: &str) -> anyhow::Result<f64> {
        let text = client.get(format!("{}/metrics", self.base)).send().await?.error_for_status()?.text().await?;
        Ok(metric_sum(&text, name))
    }

    /// Stops the process as an operator would (SIGTERM), bounded, and keeps its log only
    /// when it has something to say.
    pub async fn stop(mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), nix::sys::signal::Signal::SIGTERM);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
        match std::fs::metadata(&self.log) {
            Ok(log) if log.len() > 0 => {
                eprintln!("the {} process logged warnings: see {}", self.role, self.log.display())
            }
            _ => {
                let _ = std::fs::remove_file(&self.log);
            }
        }
    }
}

/// `coves-appview serve --role <role>` on `database_url`, request logs off (the figure is
/// the server's, not its terminal's).
fn command(role: &str, database_url: &str) -> anyhow::Result<tokio::process::Command> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.args(["serve", "--role", role, "--database-url", database_url]).env("RUST_LOG", "warn");
    Ok(command)
}

/// A loopback port nobody listens on right now (the child binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The sum of every series of metric `name` in a Prometheus text exposition.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{')))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A process's resident set size (`VmRSS`), in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    Ok(kb * 1024)
}

/// Clock ticks per second of `/proc` CPU times.
fn ticks_per_second() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(ticks)) if ticks > 0 => ticks as f64,
        _ => 100.0,
    }
}

/// CPU time a process has used (user + system), in seconds; `None` once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / ticks_per_second())
}

/// `utime + stime` from a `/proc/<pid>/stat` line (fields 14 and 15; the command name,
/// field 2, is in parentheses and may hold spaces).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `fields[0]` is field 3 (state).
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The whole machine's busy and total CPU time so far, in seconds (`/proc/stat`).
pub fn machine_cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user/nice).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).unwrap_or(&0);
    let ticks = ticks_per_second();
    Some(((total - idle) as f64 / ticks, total as f64 / ticks))
}

/// Raises this process's open-file limit to at least `needed` (children inherit it): the
/// benchmark holds one socket per websocket, and so does the API child.
pub fn raise_open_files(needed: u64) -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= needed {
        return Ok(soft);
    }
    // Raising the hard limit needs CAP_SYS_RESOURCE (root); the soft limit up to the hard
    // one never does.
    let hard = hard.max(needed);
    if setrlimit(Resource::RLIMIT_NOFILE, needed, hard).is_err() {
        setrlimit(Resource::RLIMIT_NOFILE, needed.min(hard), hard).ok();
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < needed {
        bail!(
            "{needed} open files are needed (one per websocket, in this process and in the API child) but the \
             limit is {soft}: raise it (ulimit -n {needed}) or open fewer --connections"
        );
    }
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_a_command_with_spaces() {
        let stat = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194560 1203 0 0 0 250 75 0 0 20 0 9 0 1234 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn sums_counter_series() {
        let text = "# TYPE ingest_events_applied_total counter\ningest_events_applied_total 1200\n\
                    ingest_events_applied_total_other 5\ningest_events_skipped_total{reason=\"a\"} 2\n\
                    ingest_events_skipped_total{reason=\"b\"} 3\n";
        assert_eq!(metric_sum(text, "ingest_events_applied_total"), 1200.0);
        assert_eq!(metric_sum(text, "ingest_events_skipped_total"), 5.0);
        assert_eq!(metric_sum(text, "missing"), 0.0);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).expect("VmRSS") > 0);
        assert!(cpu_seconds(pid).is_some());
        let (busy, total) = machine_cpu_seconds().expect("/proc/stat");
        assert!(busy <= total && total > 0.0);
    }
}
