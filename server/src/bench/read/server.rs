//! The server under test: a release `serve --role api` child process on the loaded
//! database, as an operator would run a read replica of the API.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running API child process.
pub struct ApiServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    child: tokio::process::Child,
    /// The child's stderr (warnings and errors), kept for a post-mortem.
    log: PathBuf,
}

/// Who the server is and where it resolves DIDs, so it can verify viewers' tokens.
pub struct Identity<'a> {
    /// `INSTANCE_DID`: the audience viewers' tokens must name.
    pub service_did: &'a str,
    /// `PLC_URL`.
    pub plc_url: &'a str,
}

impl ApiServer {
    /// Starts the server with a pool of `pool_size` connections (accepting viewers' tokens
    /// when given an `identity`) and waits until `/ready` answers.
    pub async fn start(database_url: &str, pool_size: usize, identity: Option<Identity<'_>>) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!("coves-bench-read-{}.log", std::process::id()));
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--role", "api", "--listen-addr", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url, "--pool-size", &pool_size.to_string()])
            .args(["--instance-domain", super::dataset::DOMAIN]);
        if let Some(identity) = identity {
            command.args(["--instance-did", identity.service_did, "--plc-url", identity.plc_url]);
        }
        let child = command
            // Request logs off, as in the ingest benchmark: the figure is the API's, not
            // the terminal's.
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("starting the API server")?;
        let mut server = Self { base: format!("http://127.0.0.1:{port}"), child, log };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = client.get(format!("{}/ready", self.base)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the API server exited early ({status}); see {}", self.log.display());
            }
            if Instant::now() > deadline {
                bail!("the API server was not ready after 60 s; see {}", self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server as an operator would (SIGTERM), bounded, and keeps its log only
    /// when it has something to say.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
        match std::fs::metadata(&self.log) {
            Ok(log) if log.len() > 0 => eprintln!("the API server logged warnings: see {}", self.log.display()),
            _ => {
                let _ = std::fs::remove_file(&self.log);
            }
        }
    }
}

/// A loopback port nobody listens on right now. The server binds it a moment later; on a
/// benchmark machine nothing else races for it.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
