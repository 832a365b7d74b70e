//! The live-counts benchmark (issue 7): many websocket subscribers of `postStats` on a
//! release `serve --role api` child while a `serve --role ingest` child applies a steady
//! stream of vote events from a local Jetstream. Reports the delivery latency from commit
//! to client, the API process's memory per subscription, the CPU of each process, and
//! whether every subscriber converged to the exact final counts (checked against the
//! database, and the database against the counts the stream must produce).

mod clients;
mod fixture;
mod jetstream;
mod processes;
mod votes;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use clients::{Clients, ConnectionLog, Counts, Sample};
use fixture::BenchDatabase;
use jetstream::LocalJetstream;
use processes::{LiveSettings, ServerProcess, cpu_seconds, machine_cpu_seconds, raise_open_files, rss_bytes};
use votes::VoteStream;

/// `bench live` settings.
#[derive(Args, Debug)]
pub struct LiveBenchArgs {
    /// Live `postStats` subscriptions in all.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub subscriptions: u64,
    /// Posts subscribed to (subscription `i` watches post `i % subjects`).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub subjects: u64,
    /// Websocket connections carrying the subscriptions (default: one per subscription).
    #[arg(long)]
    pub connections: Option<u64>,
    /// Vote events per second streamed to the ingest (creates, re-votes, flips, deletes).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub votes_per_second: u32,
    /// Accounts casting the votes.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub voters: u64,
    /// Measured seconds of the vote stream (after the warm-up).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Seconds of the vote stream before measuring starts.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// The API's coalescing window (`LIVE_COALESCE_WINDOW` of the child).
    #[arg(long, default_value = "100ms")]
    pub coalesce_window: humantime::Duration,
    /// Seed of the subjects and the vote stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the database after the run (its name is printed).
    #[arg(long)]
    pub keep: bool,
    /// PostgreSQL server on which the benchmark creates (and drops) its database.
    #[arg(long, env = "BENCH_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub admin_url: String,
}

impl LiveBenchArgs {
    fn connections(&self) -> u64 {
        self.connections.unwrap_or(self.subscriptions)
    }
}

/// Targets of the issue.
const P99_TARGET: Duration = Duration::from_millis(150);
const BYTES_PER_SUBSCRIPTION_TARGET: f64 = 20.0 * 1024.0;

/// After the stream: how long the updates must have stopped (plus the coalescing window)
/// before the subscribers' last values are taken as final.
const QUIET: Duration = Duration::from_secs(2);

pub async fn run(args: LiveBenchArgs) -> anyhow::Result<()> {
    let connections = args.connections();
    if connections == 0 || connections > args.subscriptions {
        bail!("--connections must be between 1 and --subscriptions ({})", args.subscriptions);
    }
    // One socket per websocket here and in the API child, plus files, pools and pipes.
    let limit = raise_open_files(connections + 1024)?;
    eprintln!("open-file limit: {limit}");
    let db = BenchDatabase::create(&args.admin_url).await?;
    let measured = measure(&args, &db).await;
    db.close(args.keep).await?;
    let report = measured?;
    report.print(&args);
    Ok(())
}

/// CPU seconds of each process at one moment.
struct CpuSample {
    at: Instant,
    api: f64,
    ingest: f64,
    tool: f64,
    postgres: HashMap<i32, f64>,
    machine_busy: f64,
}

impl CpuSample {
    async fn take(
        conn: &mut AsyncPgConnection,
        database: &str,
        api: &ServerProcess,
        ingest: &ServerProcess,
    ) -> anyhow::Result<Self> {
        let backends = fixture::backend_pids(conn, database).await?;
        Ok(Self {
            at: Instant::now(),
            api: cpu_seconds(api.pid()).unwrap_or(0.0),
            ingest: cpu_seconds(ingest.pid()).unwrap_or(0.0),
            tool: cpu_seconds(std::process::id()).unwrap_or(0.0),
            postgres: backends.into_iter().filter_map(|pid| Some((pid, cpu_seconds(pid as u32)?))).collect(),
            machine_busy: machine_cpu_seconds().map(|(busy, _)| busy).unwrap_or(0.0),
        })
    }
}

/// Cores used between two samples, per process.
#[derive(Clone, Copy, Debug, Default)]
struct Cores {
    api: f64,
    ingest: f64,
    postgres: f64,
    tool: f64,
    machine: f64,
}

impl Cores {
    fn between(a: &CpuSample, b: &CpuSample) -> Self {
        let seconds = b.at.duration_since(a.at).as_secs_f64().max(1e-6);
        // A backend that started in between counts from zero.
        let postgres: f64 = b.postgres.iter().map(|(pid, end)| end - a.postgres.get(pid).copied().unwrap_or(0.0)).sum();
        Self {
            api: (b.api - a.api) / seconds,
            ingest: (b.ingest - a.ingest) / seconds,
            postgres: postgres / seconds,
            tool: (b.tool - a.tool) / seconds,
            machine: (b.machine_busy - a.machine_busy) / seconds,
        }
    }
}

/// A subject's (upvotes, downvotes).
type UpDown = (i64, i64);

/// Everything measured.
struct Report {
    subjects: usize,
    connections: usize,
    subscriptions: usize,
    subscribe_seconds: f64,
    rss_before: u64,
    rss_subscribed: u64,
    rss_end: u64,
    window_seconds: f64,
    sent: votes::Sent,
    stream_seconds: f64,
    applied_in_window: f64,
    skipped_events: f64,
    catch_up_seconds: f64,
    cores: Cores,
    updates: u64,
    /// Delivery latency of every update received in the measured window, µs, sorted.
    latencies_us: Vec<u64>,
    /// Per update: from its `changedAt` to the first message of its flush round (the
    /// values loaded together, which share a seq), µs, sorted.
    to_round_us: Vec<u64>,
    /// Per update: from the first message of its round to it, µs, sorted.
    in_round_us: Vec<u64>,
    /// Per round: from its first message to its last, µs, sorted.
    round_us: Vec<u64>,
    without_changed_at: u64,
    negative: u64,
    seq_not_increasing: u64,
    /// Subscriptions whose last value equals the database's final counts.
    converged: usize,
    /// Subscribers' mismatches: (subject URI, last value seen, database).
    mismatches: Vec<(String, Option<Counts>, UpDown)>,
    /// Subjects whose stored counts differ from the stream's expectation.
    db_mismatches: Vec<(String, UpDown, UpDown)>,
    errors: Vec<String>,
    error_count: usize,
}

async fn measure(args: &LiveBenchArgs, db: &BenchDatabase) -> anyhow::Result<Report> {
    let mut conn = AsyncPgConnection::establish(&db.url).await.context("connecting to the benchmark database")?;
    let subjects = fixture::load_subjects(&mut conn, args.subjects as usize, args.seed).await?;
    eprintln!("{} readable posts written", subjects.len());

    let mut jetstream = LocalJetstream::start().await?;
    let per_connection = args.subscriptions.div_ceil(args.connections()) as usize;
    let live = LiveSettings {
        coalesce_window: args.coalesce_window.to_string(),
        max_subscriptions: (args.subscriptions as usize).max(100_000),
        max_per_connection: per_connection.max(100),
    };
    let api = ServerProcess::api(&db.url, &live).await?;
    let ingest = ServerProcess::ingest(&db.url, &jetstream.url()).await?;
    let measured = drive(args, db, &mut conn, subjects, &mut jetstream, api, ingest).await;
    jetstream.stop().await;
    measured
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    args: &LiveBenchArgs,
    db: &BenchDatabase,
    conn: &mut AsyncPgConnection,
    subjects: Vec<votes::Subject>,
    jetstream: &mut LocalJetstream,
    mut api: ServerProcess,
    mut ingest: ServerProcess,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build()?;
    wait_until("the ingest to connect to the local Jetstream", Duration::from_secs(30), || {
        Ok(jetstream.connections() > 0)
    })
    .await?;

    // Memory before any subscriber, once one websocket subscription has been served and
    // closed (what the first one alone costs is not a cost per subscription).
    let connections = args.connections() as usize;
    let subscriptions = args.subscriptions as usize;
    let uris = Arc::new(subjects.iter().map(|s| s.uri.clone()).collect::<Vec<_>>());
    let ws_url = format!("{}/graphql", api.base.replacen("http://", "ws://", 1));
    let first = Clients::start(&ws_url, 1, 1, uris.clone());
    let first_progress = first.progress.clone();
    let served = wait_until("a first subscription", Duration::from_secs(30), || {
        Ok(first_progress.first_values.load(Ordering::Relaxed) == 1
            || first_progress.failures.load(Ordering::Relaxed) > 0)
    })
    .await;
    let logs = first.stop().await;
    served?;
    if let Some(error) = logs.iter().find_map(first_error) {
        bail!("a first subscription failed: {error}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_bytes(api.pid())?;

    eprintln!("opening {connections} websockets with {subscriptions} subscriptions over {} posts", uris.len());
    let started = Instant::now();
    let clients = Clients::start(&ws_url, connections, subscriptions, uris);
    let progress = clients.progress.clone();
    let subscribed = wait_until("every subscription's first value", Duration::from_secs(180), || {
        api.check_running()?;
        let failures = progress.failures.load(Ordering::Relaxed);
        if failures > 0 {
            bail!("{failures} connections or subscriptions failed while subscribing");
        }
        Ok(progress.first_values.load(Ordering::Relaxed) == subscriptions)
    })
    .await;
    if let Err(e) = subscribed {
        let logs = clients.stop().await;
        let first = logs.iter().find_map(first_error).unwrap_or_default();
        api.stop().await;
        ingest.stop().await;
        return Err(e.context(format!("first error: {first}")));
    }
    let subscribe_seconds = started.elapsed().as_secs_f64();
    eprintln!("subscribed in {subscribe_seconds:.1} s");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_subscribed = rss_bytes(api.pid())?;

    // The vote stream: warm-up, then the measured window.
    let stream = VoteStream::new(subjects, args.voters as usize, args.seed);
    let stream_length = Duration::from_secs(args.warmup + args.seconds);
    let stream_started = Instant::now();
    jetstream.stream(stream, args.votes_per_second, stream_length);
    eprintln!("streaming {} votes/s: {} s warm-up, {} s measured", args.votes_per_second, args.warmup, args.seconds);
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let before = CpuSample::take(conn, &db.name, &api, &ingest).await?;
    let applied_before = ingest.metric(&http, "ingest_events_applied_total").await?;
    progress.measure_from_now(Duration::from_secs(args.seconds));
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let after = CpuSample::take(conn, &db.name, &api, &ingest).await?;
    let applied_after = ingest.metric(&http, "ingest_events_applied_total").await?;
    let rss_end = rss_bytes(api.pid())?;
    let stream = jetstream.finish().await?;
    let stream_seconds = stream_started.elapsed().as_secs_f64();
    let last_time_us = jetstream.last_time_us().context("no event was sent")?;

    // The end: the ingest catches up, then the last updates arrive.
    let stream_end = Instant::now();
    let mut cursor = 0;
    while cursor < last_time_us {
        ingest.check_running()?;
        if stream_end.elapsed() > Duration::from_secs(300) {
            bail!("the ingest had not applied the stream 300 s after its end");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        cursor = crate::ingest::load_cursor(conn, crate::ingest::pipeline::STREAM).await?.unwrap_or(0);
    }
    let catch_up_seconds = stream_end.elapsed().as_secs_f64();
    let quiet = QUIET + Duration::from(args.coalesce_window);
    wait_until("the last updates", Duration::from_secs(120), || {
        let last = progress.last_value_us.load(Ordering::Relaxed);
        Ok(chrono::Utc::now().timestamp_micros() - last >= quiet.as_micros() as i64)
    })
    .await?;
    let skipped_events = ingest.metric(&http, "ingest_events_skipped_total").await?;
    let updates = progress.updates.load(Ordering::Relaxed);
    let logs = clients.stop().await;
    api.stop().await;
    ingest.stop().await;

    let stored = fixture::stored_counts(conn, stream.subjects()).await?;
    let expected = stream.expected_counts();
    let db_mismatches = stream
        .subjects()
        .iter()
        .zip(expected.iter().zip(&stored))
        .filter(|(_, (e, s))| e != s)
        .map(|(subject, (e, s))| (subject.uri.clone(), *e, *s))
        .collect();

    let mut report = Report {
        subjects: stream.subjects().len(),
        connections,
        subscriptions,
        subscribe_seconds,
        rss_before,
        rss_subscribed,
        rss_end,
        window_seconds: after.at.duration_since(before.at).as_secs_f64(),
        sent: stream.sent(),
        stream_seconds,
        applied_in_window: applied_after - applied_before,
        skipped_events,
        catch_up_seconds,
        cores: Cores::between(&before, &after),
        updates,
        latencies_us: Vec::new(),
        to_round_us: Vec::new(),
        in_round_us: Vec::new(),
        round_us: Vec::new(),
        without_changed_at: 0,
        negative: 0,
        seq_not_increasing: 0,
        converged: 0,
        mismatches: Vec::new(),
        db_mismatches,
        errors: Vec::new(),
        error_count: 0,
    };
    let mut samples = Vec::new();
    for mut log in logs {
        samples.append(&mut log.samples);
        report.add(log, &stored, stream.subjects());
    }
    report.split_latencies(&samples);
    Ok(report)
}

fn first_error(log: &ConnectionLog) -> Option<String> {
    log.error.clone().or_else(|| log.subscriptions.iter().find_map(|s| s.error.clone()))
}

/// Polls `done` every 50 ms until it holds, fails, or `limit` passes.
async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done()? {
        if Instant::now() > deadline {
            bail!("waited {} s for {what}", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

impl Report {
    fn add(&mut self, log: ConnectionLog, stored: &[UpDown], subjects: &[votes::Subject]) {
        self.without_changed_at += log.without_changed_at;
        self.negative += log.negative;
        if let Some(error) = log.error {
            self.error_count += 1;
            self.errors.push(error);
        }
        for sub in log.subscriptions {
            self.seq_not_increasing += sub.seq_not_increasing;
            if let Some(error) = sub.error {
                self.error_count += 1;
                self.errors.push(error);
            }
            let (up, down) = stored[sub.subject];
            let want = Counts { score: up - down, upvotes: up, downvotes: down };
            let seen = sub.last.map(|(counts, _)| counts);
            if seen == Some(want) {
                self.converged += 1;
            } else {
                self.mismatches.push((subjects[sub.subject].uri.clone(), seen, (up, down)));
            }
        }
        self.errors.truncate(10);
    }

    /// Every delivery latency, and its two parts, around the first message of the
    /// server's flush round that loaded the value (all its values share a seq): before it
    /// (waiting out the coalescing window, loading, the first send) and after it (sending
    /// the round's other values to their subscribers, ahead of this one).
    fn split_latencies(&mut self, samples: &[Sample]) {
        let mut rounds: HashMap<u64, (i64, i64)> = HashMap::new();
        for s in samples {
            let (first, last) = rounds.entry(s.seq).or_insert((s.received_us, s.received_us));
            *first = (*first).min(s.received_us);
            *last = (*last).max(s.received_us);
        }
        let micros = |d: i64| d.max(0) as u64;
        self.latencies_us = samples.iter().map(|s| micros(s.received_us - s.changed_us)).collect();
        self.to_round_us = samples.iter().map(|s| micros(rounds[&s.seq].0 - s.changed_us)).collect();
        self.in_round_us = samples.iter().map(|s| micros(s.received_us - rounds[&s.seq].0)).collect();
        self.round_us = rounds.values().map(|(first, last)| micros(last - first)).collect();
        for sorted in [&mut self.latencies_us, &mut self.to_round_us, &mut self.in_round_us, &mut self.round_us] {
            sorted.sort_unstable();
        }
    }

    fn percentile(&self, q: f64) -> Duration {
        percentile(&self.latencies_us, q)
    }

    fn max(&self) -> Duration {
        Duration::from_micros(self.latencies_us.last().copied().unwrap_or_default())
    }

    /// API RSS growth per subscription, all subscribed and idle.
    fn bytes_per_subscription(&self) -> f64 {
        self.rss_subscribed.saturating_sub(self.rss_before) as f64 / self.subscriptions as f64
    }

    fn bytes_per_subscription_at_end(&self) -> f64 {
        self.rss_end.saturating_sub(self.rss_before) as f64 / self.subscriptions as f64
    }

    fn print(&self, args: &LiveBenchArgs) {
        let c = &self.cores;
        println!(
            "{} subscriptions over {} websockets on {} posts; votes streamed at {}/s by {} voters for {} s \
             ({} s warm-up, then {:.1} s measured); coalescing window {}.",
            self.subscriptions,
            self.connections,
            self.subjects,
            args.votes_per_second,
            args.voters,
            args.warmup + args.seconds,
            args.warmup,
            self.window_seconds,
            args.coalesce_window
        );
        println!();
        println!(
            "| subscriptions | connections | subjects | votes/s applied | updates received | updates/s | \
             latency p50 | p99 | max | RSS per subscription | API CPU | ingest CPU | converged |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {} | {} | {:.0} | {} | {:.0} | {} | {} | {} | {} | {:.2} cores | {:.2} cores | {} / {} |",
            self.subscriptions,
            self.connections,
            self.subjects,
            self.applied_in_window / self.window_seconds,
            self.updates,
            self.latencies_us.len() as f64 / self.window_seconds,
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.max()),
            kb(self.bytes_per_subscription()),
            c.api,
            c.ingest,
            self.converged,
            self.subscriptions
        );
        println!();
        println!(
            "CPU over the measured window: API {:.2}, ingest {:.2}, PostgreSQL backends of the benchmark database \
             {:.2}, this load tool {:.2}; whole machine {:.2} cores busy of {}, so {:.2} for other processes (near 0 \
             when nothing else ran).",
            c.api,
            c.ingest,
            c.postgres,
            c.tool,
            c.machine,
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            c.machine - c.api - c.ingest - c.postgres - c.tool
        );
        if !self.latencies_us.is_empty() {
            println!(
                "Per update delivered in the window: API {:.1} µs of CPU, load tool {:.1} µs.",
                c.api * self.window_seconds * 1e6 / self.latencies_us.len() as f64,
                c.tool * self.window_seconds * 1e6 / self.latencies_us.len() as f64
            );
        }
        println!(
            "API RSS: {:.1} MB before any subscriber, {:.1} MB with all subscribed ({} per subscription), \
             {:.1} MB at the end of the measured window ({} per subscription).",
            mb(self.rss_before),
            mb(self.rss_subscribed),
            kb(self.bytes_per_subscription()),
            mb(self.rss_end),
            kb(self.bytes_per_subscription_at_end())
        );
        let s = &self.sent;
        println!(
            "Stream: {} events in {:.1} s ({} new votes, {} re-votes, {} flips, {} deletes); the ingest applied \
             the last {:.2} s after the stream ended; {} events skipped. Subscribed in {:.1} s.",
            s.total(),
            self.stream_seconds,
            s.votes,
            s.revotes,
            s.flips,
            s.deletes,
            self.catch_up_seconds,
            self.skipped_events,
            self.subscribe_seconds
        );
        println!(
            "Updates: {} measured latencies (p90 {}, p99.9 {}); {} without changedAt; {} received before their \
             changedAt; {} with a seq not above the previous one.",
            self.latencies_us.len(),
            ms(self.percentile(0.9)),
            ms(self.percentile(0.999)),
            self.without_changed_at,
            self.negative,
            self.seq_not_increasing
        );
        println!(
            "Latency split by the server's flush rounds ({} rounds, {:.1} per second; a round sends its values in \
             {} at p50, {} at p99): from changedAt to the first message of the update's round p50 {}, p99 {}; \
             from there to the update p50 {}, p99 {}.",
            self.round_us.len(),
            self.round_us.len() as f64 / self.window_seconds,
            ms(percentile(&self.round_us, 0.5)),
            ms(percentile(&self.round_us, 0.99)),
            ms(percentile(&self.to_round_us, 0.5)),
            ms(percentile(&self.to_round_us, 0.99)),
            ms(percentile(&self.in_round_us, 0.5)),
            ms(percentile(&self.in_round_us, 0.99))
        );
        println!();
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        let p99 = self.percentile(0.99);
        println!(
            "- delivery latency p99 {} (target < {}, coalescing window included): {}",
            ms(p99),
            ms(P99_TARGET),
            met(!self.latencies_us.is_empty() && p99 < P99_TARGET)
        );
        println!(
            "- API memory per subscription {} (target < {}): {}",
            kb(self.bytes_per_subscription()),
            kb(BYTES_PER_SUBSCRIPTION_TARGET),
            met(self.bytes_per_subscription() < BYTES_PER_SUBSCRIPTION_TARGET)
        );
        let exact = self.db_mismatches.is_empty();
        println!(
            "- every subscriber converged to the final counts: {} / {} ({}); the database equals the stream's \
             expected counts: {}",
            self.converged,
            self.subscriptions,
            met(self.converged == self.subscriptions),
            if exact { "yes" } else { "NO" }
        );
        if self.error_count > 0 {
            println!("- {} errors; first: {}", self.error_count, self.errors.join(" | "));
        }
        for (uri, seen, (up, down)) in self.mismatches.iter().take(10) {
            println!("  - subscriber of {uri}: last value {seen:?}, database up {up} down {down}");
        }
        for (uri, expected, stored) in self.db_mismatches.iter().take(10) {
            println!("  - {uri}: expected (up, down) {expected:?}, stored {stored:?}");
        }
    }
}

/// The value at quantile `q` of sorted µs (nearest rank); zero when empty.
fn percentile(sorted_us: &[u64], q: f64) -> Duration {
    let rank = ((sorted_us.len() as f64 * q).ceil() as usize).saturating_sub(1);
    Duration::from_micros(sorted_us.get(rank).copied().unwrap_or_default())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn kb(bytes: f64) -> String {
    format!("{:.1} KB", bytes / 1024.0)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
