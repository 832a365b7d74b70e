//! The ingest benchmark: a generated file of Coves events is served by the local replay
//! server and ingested by a real `serve --role ingest` child process into a fresh
//! database, once batched and once with one transaction per event (the baseline, on a
//! prefix of the same events). Reports sustained events/s, the child's peak RSS,
//! send-to-visible lag, and whether the final counts equal the generator's.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::generate::{Options, Summary, generate};
use crate::ingest::{Ingestor, load_cursor, pipeline::STREAM};
use crate::replay::ReplayServer;

/// `bench ingest` settings.
#[derive(Args, Debug)]
pub struct IngestBenchArgs {
    /// Events to generate and ingest.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Events of the same file ingested one transaction per event (the baseline).
    #[arg(long, default_value_t = 20_000)]
    pub baseline_events: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Events per batch in the batched run.
    #[arg(long, default_value_t = 2000)]
    pub batch_size: usize,
    /// Replay rate (events/s) of the lag run: below saturation, so the lag shows batching
    /// and commit time rather than a backlog.
    #[arg(long, default_value_t = 10_000)]
    pub lag_rate: u32,
    /// Events of the same file replayed in the lag run.
    #[arg(long, default_value_t = 200_000)]
    pub lag_events: u64,
    /// PostgreSQL server on which the benchmark creates (and drops) its databases.
    #[arg(long, env = "BENCH_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub admin_url: String,
}

/// One ingest run's figures.
struct RunFigures {
    events: usize,
    seconds: f64,
    peak_rss_mb: f64,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
}

impl RunFigures {
    fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }
}

pub async fn run(args: IngestBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("coves-bench-").tempdir_in("/tmp")?;
    let file = dir.path().join("events.jsonl");
    let started = Instant::now();
    let options = Options { events: args.events, seed: args.seed, ..Options::default() };
    let summary = write_events(&file, &options)?;
    eprintln!("generated {} events in {:.1} s", summary.events, started.elapsed().as_secs_f64());

    let (batched, counts) = ingest_run(&args, &file, "batched", args.batch_size, None, dir.path()).await?;
    let counts_exact = counts == summary.vote_counts();

    let prefix = dir.path().join("lag.jsonl");
    copy_prefix(&file, &prefix, args.lag_events)?;
    let (lag, _) = ingest_run(&args, &prefix, "lag", args.batch_size, Some(args.lag_rate), dir.path()).await?;

    copy_prefix(&file, &prefix, args.baseline_events)?;
    let (baseline, _) = ingest_run(&args, &prefix, "baseline", 1, None, dir.path()).await?;

    println!("| run | events ingested | seconds | events/s | peak RSS | send-to-visible p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let runs = [
        (format!("batched ({} per transaction), unthrottled", args.batch_size), &batched),
        (format!("batched, replayed at {} events/s", args.lag_rate), &lag),
        ("baseline: 1 event per transaction, unthrottled".to_owned(), &baseline),
    ];
    for (name, f) in runs {
        println!(
            "| {name} | {} | {:.1} | {:.0} | {:.0} MB | {:.0} ms | {:.0} ms |",
            f.events,
            f.seconds,
            f.rate(),
            f.peak_rss_mb,
            f.lag_p50_ms,
            f.lag_p99_ms
        );
    }
    println!();
    println!("- speed-up over the baseline: {:.0}×", batched.rate() / baseline.rate());
    println!(
        "- final vote counts equal the generator's expected counts: {}",
        if counts_exact { "yes" } else { "NO (mismatch)" }
    );
    println!(
        "- generated file: {} events; the replay server sends the {} the plugins subscribe to",
        summary.events, batched.events
    );
    if !counts_exact {
        bail!("vote counts differ from the generator's expectation");
    }
    Ok(())
}

fn write_events(path: &Path, options: &Options) -> anyhow::Result<Summary> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let summary = generate(options, &mut out)?;
    out.flush()?;
    Ok(summary)
}

fn copy_prefix(from: &Path, to: &Path, lines: u64) -> anyhow::Result<()> {
    let reader = std::io::BufReader::new(std::fs::File::open(from)?);
    let mut out = std::io::BufWriter::new(std::fs::File::create(to)?);
    for line in reader.lines().take(lines as usize) {
        writeln!(out, "{}", line?)?;
    }
    out.flush()?;
    Ok(())
}

/// `time_us` of every event the replay server will send, in order.
fn wanted_times(path: &Path) -> anyhow::Result<Vec<i64>> {
    let collections = Ingestor::new(crate::plugins::linked()?)?.collections();
    let reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut times = Vec::new();
    for line in reader.lines() {
        let event: serde_json::Value = serde_json::from_str(&line?)?;
        let wanted = event["kind"] != "commit"
            || collections.iter().any(|c| event["commit"]["collection"].as_str() == Some(c.as_str()));
        if wanted && let Some(t) = event["time_us"].as_i64() {
            times.push(t);
        }
    }
    Ok(times)
}

/// Ingests `file` with a child `serve --role ingest` and returns its figures and the
/// final vote counts.
async fn ingest_run(
    args: &IngestBenchArgs,
    file: &Path,
    label: &str,
    batch_size: usize,
    rate: Option<u32>,
    dir: &Path,
) -> anyhow::Result<(RunFigures, BTreeMap<String, (i64, i64)>)> {
    let times = wanted_times(file)?;
    let last = *times.last().context("the event file has no wanted events")?;
    let name = format!("coves_bench_{label}_{}", std::process::id());
    let mut admin = AsyncPgConnection::establish(&args.admin_url).await.context("connecting to --admin-url")?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await?;
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    let url = crate::db::database_url_on(&args.admin_url, &name);
    crate::db::migrate::run(&url, &crate::plugins::linked()?).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let replay = ReplayServer::start(listener, file.to_owned(), rate).await?;
    // Identity checks of new accounts run against a local directory, as they would
    // against the PLC directory in production.
    let directory = crate::directory::LocalDirectory::start(file).await?;
    let log = std::fs::File::create(dir.join(format!("{label}.log")))?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--role", "ingest", "--listen-addr", "127.0.0.1:0", "--jetstream-compress", "false"])
        .args(["--database-url", &url, "--jetstream-url", &replay.url(), "--batch-size", &batch_size.to_string()])
        .args(["--plc-url", directory.url(), "--handle-resolver-url", directory.url()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting the ingest process")?;
    let pid = child.id().context("child pid")?;
    eprintln!("{label}: ingesting {} events (batch size {batch_size})", times.len());

    let mut conn = AsyncPgConnection::establish(&url).await?;
    let started = Instant::now();
    let mut first_commit: Option<Instant> = None;
    let mut sent_at: Vec<Option<Instant>> = vec![None; times.len()];
    let mut visible_at: Vec<Option<Instant>> = vec![None; times.len()];
    let (mut sent_mark, mut visible_mark) = (0usize, 0usize);
    loop {
        let now = Instant::now();
        let sent = (replay.events_sent() as usize).min(times.len());
        while sent_mark < sent {
            sent_at[sent_mark] = Some(now);
            sent_mark += 1;
        }
        let cursor = load_cursor(&mut conn, STREAM).await?.unwrap_or(0);
        if cursor > 0 && first_commit.is_none() {
            first_commit = Some(now);
        }
        while visible_mark < times.len() && times[visible_mark] <= cursor {
            visible_at[visible_mark] = Some(now);
            visible_mark += 1;
        }
        if cursor >= last {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{label}: the ingest process exited early ({status}); see {}",
                dir.join(format!("{label}.log")).display()
            );
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("{label}: not finished after an hour");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let finished = Instant::now();
    let peak_rss_mb = peak_rss_kb(pid).unwrap_or(0) as f64 / 1024.0;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM)?;
    let _ = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
    replay.stop().await;

    let mut lags: Vec<f64> = sent_at
        .iter()
        .zip(&visible_at)
        .filter_map(|(s, v)| Some(v.as_ref()?.saturating_duration_since(*s.as_ref()?).as_secs_f64() * 1000.0))
        .collect();
    lags.sort_by(f64::total_cmp);
    let percentile = |p: f64| lags.get(((lags.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    let counts = coves_plugin_vote::stored_counts(&mut conn).await?;
    drop(conn);
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;

    let from = first_commit.unwrap_or(started);
    Ok((
        RunFigures {
            events: times.len(),
            seconds: finished.duration_since(from).as_secs_f64().max(1e-3),
            peak_rss_mb,
            lag_p50_ms: percentile(0.5),
            lag_p99_ms: percentile(0.99),
        },
        counts,
    ))
}

/// The process's peak resident set size (VmHWM), in KiB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(PathBuf::from(format!("/proc/{pid}/status"))).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
