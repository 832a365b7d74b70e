//! `serve --demo`: the real server fed by a generated sample of Coves activity, replayed
//! through a local Jetstream on loopback, so a newcomer sees live data with no network.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use crate::config::Config;
use crate::directory::LocalDirectory;
use crate::generate::{Options, generate};
use crate::replay::ReplayServer;

/// Events in the sample.
const DEMO_EVENTS: u64 = 50_000;
/// Events per second: fast enough to fill the first page in seconds, slow enough that
/// votes and comments keep arriving for minutes.
const DEMO_RATE: u32 = 250;

/// Serves the demo until SIGINT/SIGTERM.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    // A private, world-traversable directory (the embedded cluster may run as `postgres`).
    let dir =
        tempfile::Builder::new().prefix("coves-demo-").tempdir_in("/tmp").context("creating the demo directory")?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let events = dir.path().join("events.jsonl");
    // Event times follow the wall clock at the replay rate, so "hot" and "new" look live.
    let options = Options {
        events: DEMO_EVENTS,
        seed: 2026,
        start: Utc::now(),
        spacing_us: 1_000_000 / u64::from(DEMO_RATE),
        details: false,
        ..Options::default()
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&events)?);
    generate(&options, &mut out)?;
    std::io::Write::flush(&mut out)?;
    drop(out);

    // Every generated account resolves through a local directory, so handles are verified
    // as in production.
    let directory = LocalDirectory::start(&events).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let replay = ReplayServer::start(listener, events, Some(DEMO_RATE)).await?;
    tracing::info!(jetstream = %replay.url(), events = DEMO_EVENTS, rate = DEMO_RATE, "demo: replaying generated Coves activity");

    config.jetstream.urls = vec![replay.url()];
    config.instance.plc_url = directory.url().to_owned();
    config.instance.handle_resolver_url = Some(directory.url().to_owned());
    config.ingest.ready_max_lag = Duration::ZERO;
    // The generated communities' host (did:web:<domain>) has no did.json to fetch.
    config.instance.skip_did_web_verification = true;
    config.instance.instance_domain.get_or_insert_with(|| options.domain.clone());
    if config.database.database_url.is_none() {
        config.database.data_dir = dir.path().join("postgres");
    }
    let result = crate::app::serve(config).await;
    replay.stop().await;
    drop(directory);
    result
}
