//! The read benchmark (issues 5 and 6): a generated forum-sized data set is loaded
//! straight into a fresh database with SQL, a real `serve --role api` child process serves
//! it, and 16 concurrent clients drive a posts page (GraphQL), a comment thread (XRPC) and
//! a signed-in viewer's timeline (XRPC, with a service-auth token the server verifies
//! against a local PLC directory) over HTTP. Each workload is measured next to its
//! baseline in the same run: the same service functions the server calls, on a pool of
//! the same size, without HTTP, GraphQL, JSON or authentication.

mod comments;
mod dataset;
mod driver;
mod identity;
mod posts;
mod server;
mod timeline;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use dataset::{DataSet, LoadFigures, Sizes};
use driver::{Figures, Settings};

/// The workloads `bench read` can measure.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadWorkload {
    /// A community's posts, hot, first 25, over GraphQL.
    Posts,
    /// A post's comment thread, depth 3, over XRPC.
    Comments,
    /// A signed-in viewer's timeline, hot, 25 posts, over XRPC.
    Timeline,
}

/// `bench read` settings.
#[derive(Args, Debug)]
pub struct ReadBenchArgs {
    #[command(flatten)]
    pub sizes: Sizes,
    /// Which workloads to measure (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ReadWorkload::Posts, ReadWorkload::Comments, ReadWorkload::Timeline])]
    pub workloads: Vec<ReadWorkload>,
    /// Draw the timeline's viewers from this many actors (a fixed pseudo-random sample)
    /// instead of every actor with subscriptions.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub timeline_viewers: Option<i64>,
    /// Measured seconds of each run (after the warm-up).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Seconds of each run before measuring starts (fills caches and connection pools).
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Concurrent clients, and the size of both connection pools (the server's and the
    /// direct baseline's).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Keep the database after the run (its name is printed), for a later `--reuse`.
    #[arg(long)]
    pub keep: bool,
    /// Measure an existing database loaded by an earlier `--keep` run instead of loading
    /// one (the size flags are then ignored; the database is kept).
    #[arg(long, value_name = "DATABASE")]
    pub reuse: Option<String>,
    /// PostgreSQL server on which the benchmark creates (and drops) its database.
    #[arg(long, env = "BENCH_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub admin_url: String,
}

/// Targets of issue 5 (posts and comments): p99 below this, over HTTP.
const P99_TARGET: Duration = Duration::from_millis(25);
/// Targets of issue 5: HTTP requests/s at least this share of the direct-SQL figure.
const RATIO_TARGET: f64 = 0.5;
/// Target of issue 6 (timeline): p99 below this, over HTTP.
const TIMELINE_P99_TARGET: Duration = Duration::from_millis(40);

pub async fn run(args: ReadBenchArgs) -> anyhow::Result<()> {
    let db = BenchDatabase::open(&args).await?;
    let measured = measure(&args, &db.url).await;
    db.close(&args).await?;
    let report = measured?;
    report.print(&args, &db);
    Ok(())
}

/// The database measured: created and loaded by this run, or reused.
struct BenchDatabase {
    name: String,
    url: String,
    /// How the load went; `None` when reused.
    load: Option<LoadFigures>,
}

impl BenchDatabase {
    async fn open(args: &ReadBenchArgs) -> anyhow::Result<Self> {
        if let Some(name) = &args.reuse {
            let url = crate::db::database_url_on(&args.admin_url, name);
            return Ok(Self { name: name.clone(), url, load: None });
        }
        let name = format!("coves_bench_read_{}", std::process::id());
        admin_execute(&args.admin_url, &format!("CREATE DATABASE {name}")).await?;
        let url = crate::db::database_url_on(&args.admin_url, &name);
        let loaded = async {
            crate::db::migrate::run(&url, &crate::plugins::linked()?).await?;
            dataset::load(&url, &args.sizes).await
        }
        .await;
        match loaded {
            Ok(load) => Ok(Self { name, url, load: Some(load) }),
            Err(e) => {
                admin_execute(&args.admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
                Err(e)
            }
        }
    }

    /// Drops the database unless it is to be kept (asked for, or reused).
    async fn close(&self, args: &ReadBenchArgs) -> anyhow::Result<()> {
        if args.keep || args.reuse.is_some() {
            eprintln!("kept database {} (measure it again with --reuse {})", self.name, self.name);
            return Ok(());
        }
        admin_execute(&args.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await
    }
}

async fn admin_execute(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    let mut admin = AsyncPgConnection::establish(admin_url).await.context("connecting to --admin-url")?;
    diesel::sql_query(sql).execute(&mut admin).await.with_context(|| format!("running {sql}"))?;
    Ok(())
}

/// One workload over HTTP then directly.
struct Measured {
    workload: ReadWorkload,
    /// `None` when the server does not serve the method yet.
    http: Option<Figures>,
    direct: Figures,
}

/// What the timeline runs saw besides latencies.
struct TimelineNotes {
    /// How many viewers the clients drew from.
    viewers: usize,
    /// Viewers whose timeline was empty, over HTTP and directly.
    empty_http: usize,
    empty_direct: usize,
    /// The server's DID-document lookups during the measured window, by source/outcome.
    lookups: BTreeMap<String, u64>,
    /// How long minting the viewers' tokens took (before the run).
    minting: Duration,
}

/// The selected workloads, each over HTTP then directly.
struct Report {
    data: DataSet,
    measured: Vec<Measured>,
    timeline: Option<TimelineNotes>,
}

async fn measure(args: &ReadBenchArgs, url: &str) -> anyhow::Result<Report> {
    let wants = |w: ReadWorkload| args.workloads.contains(&w);
    let mut conn = AsyncPgConnection::establish(url).await.context("connecting to the benchmark database")?;
    let data = dataset::count(&mut conn).await?;
    let communities = Arc::new(if wants(ReadWorkload::Posts) { posts::targets(&mut conn).await? } else { Vec::new() });
    let threads =
        Arc::new(if wants(ReadWorkload::Comments) { comments::targets(&mut conn).await? } else { Vec::new() });
    let viewers = Arc::new(if wants(ReadWorkload::Timeline) {
        timeline::targets(&mut conn, args.timeline_viewers).await?
    } else {
        Vec::new()
    });
    anyhow::ensure!(
        !wants(ReadWorkload::Posts) || !communities.is_empty(),
        "the database has no readable community to read posts from"
    );
    anyhow::ensure!(
        !wants(ReadWorkload::Comments) || !threads.is_empty(),
        "the database has no post with comments to read threads of"
    );
    anyhow::ensure!(
        !wants(ReadWorkload::Timeline) || !viewers.is_empty(),
        "the database has no subscriptions to read timelines of (loaded before the timeline workload existed? \
         load a new one)"
    );

    // Signed-in viewers: a local PLC directory serves every actor's DID document with the
    // benchmark's key. The server starts with nothing cached about them, in memory or in
    // PostgreSQL, so every run (first or `--reuse`) starts alike.
    let key = Arc::new(identity::BenchKey::new());
    let directory = if wants(ReadWorkload::Timeline) {
        conn.batch_execute("DELETE FROM identity_did_documents").await?;
        let directory = identity::BenchDirectory::start(&mut conn, &key).await?;
        eprintln!("local PLC directory at {} serving {} DID documents", directory.url, directory.identities);
        Some(directory)
    } else {
        None
    };
    drop(conn);

    let settings = Settings {
        concurrency: args.concurrency,
        warmup: Duration::from_secs(args.warmup),
        measured: Duration::from_secs(args.seconds),
    };
    let pool = crate::db::connect(url, args.concurrency, Duration::from_secs(30))?;
    let identity =
        directory.as_ref().map(|d| server::Identity { service_did: identity::SERVICE_DID, plc_url: d.url.as_str() });
    // Dropping the server on an early return kills it.
    let server = server::ApiServer::start(url, args.concurrency, identity).await?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let base = server.base.clone();
    let mut measured = Vec::new();

    if wants(ReadWorkload::Posts) {
        let http = posts::Http { client: client.clone(), base: base.clone(), targets: communities.clone() };
        let http = driver::run("posts over HTTP", &settings, Arc::new(http)).await?;
        let direct = posts::Direct { pool: pool.clone(), targets: communities };
        let direct = driver::run("posts direct", &settings, Arc::new(direct)).await?;
        measured.push(Measured { workload: ReadWorkload::Posts, http: Some(http), direct });
    }

    if wants(ReadWorkload::Comments) {
        let http = comments::Http { client: client.clone(), base: base.clone(), targets: threads.clone() };
        let http = if http.served().await? {
            Some(driver::run("comments over HTTP", &settings, Arc::new(http)).await?)
        } else {
            eprintln!("comments over HTTP: skipped, the server does not serve {} yet", comments::METHOD);
            None
        };
        let direct = comments::Direct { pool: pool.clone(), targets: threads };
        let direct = driver::run("comments direct", &settings, Arc::new(direct)).await?;
        measured.push(Measured { workload: ReadWorkload::Comments, http, direct });
    }

    let mut timeline_notes = None;
    if wants(ReadWorkload::Timeline) {
        let (timeline, notes) =
            measure_timeline(args, &settings, Timeline { client, base, pool, viewers, key }).await?;
        measured.push(timeline);
        timeline_notes = Some(notes);
    }
    server.stop().await;
    drop(directory);
    Ok(Report { data, measured, timeline: timeline_notes })
}

/// What the timeline runs need.
struct Timeline {
    client: reqwest::Client,
    base: String,
    pool: coves_plugin_api::DbPool,
    viewers: Arc<Vec<String>>,
    key: Arc<identity::BenchKey>,
}

/// The timeline over HTTP, with the server's DID-document lookups of the measured window,
/// then directly.
async fn measure_timeline(
    args: &ReadBenchArgs,
    settings: &Settings,
    t: Timeline,
) -> anyhow::Result<(Measured, TimelineNotes)> {
    let minted = Instant::now();
    let valid = i64::try_from(args.warmup + args.seconds + 120).unwrap_or(i64::MAX);
    let authorizations = Arc::new(timeline::authorizations(t.key, t.viewers.clone(), valid).await?);
    let minting = minted.elapsed();
    eprintln!("minted {} service-auth tokens in {:.1} s", authorizations.len(), minting.as_secs_f64());
    let http = Arc::new(timeline::Http {
        client: t.client.clone(),
        base: t.base.clone(),
        targets: t.viewers.clone(),
        authorizations,
        empty: timeline::Empty::default(),
    });
    // The server's lookups at the start and at the end of the measured window.
    let snapshot = {
        let (client, base, warmup) = (t.client.clone(), t.base.clone(), settings.warmup);
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            timeline::did_lookups(&client, &base).await
        })
    };
    let http_figures = driver::run("timeline over HTTP", settings, http.clone()).await?;
    let before = snapshot.await.context("the metrics snapshot panicked")??;
    let lookups = timeline::difference(&before, &timeline::did_lookups(&t.client, &t.base).await?);
    let direct =
        Arc::new(timeline::Direct { pool: t.pool, targets: t.viewers.clone(), empty: timeline::Empty::default() });
    let direct_figures = driver::run("timeline direct", settings, direct.clone()).await?;
    let notes = TimelineNotes {
        viewers: t.viewers.len(),
        empty_http: http.empty.count(),
        empty_direct: direct.empty.count(),
        lookups,
        minting,
    };
    Ok((Measured { workload: ReadWorkload::Timeline, http: Some(http_figures), direct: direct_figures }, notes))
}

impl ReadWorkload {
    /// The table's workload column and the HTTP path's label.
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::Posts => ("posts(community, HOT, first 25)", "HTTP, GraphQL"),
            Self::Comments => ("getComments(depth 3, hot, limit 25)", "HTTP, XRPC"),
            Self::Timeline => ("timeline(hot, 25)", "HTTP, XRPC"),
        }
    }
}

impl Report {
    fn print(&self, args: &ReadBenchArgs, db: &BenchDatabase) {
        let d = &self.data;
        println!(
            "Data set: {} readable communities, {} actors, {} posts, {} votes, {} comments, {} subscriptions, {} blocks.",
            d.communities, d.actors, d.posts, d.votes, d.comments, d.subscriptions, d.blocks
        );
        match &db.load {
            Some(load) => println!("Loaded with SQL in {:.0} s ({}).", load.total().as_secs_f64(), load.steps()),
            None => println!("Reused database {} (loaded by an earlier run).", db.name),
        }
        println!();
        println!(
            "{} clients, {} s measured per run after {} s of warm-up.",
            args.concurrency, args.seconds, args.warmup
        );
        println!();
        println!("| workload | path | requests | requests/s | p50 | p99 | max | errors |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        for m in &self.measured {
            let (workload, http) = m.workload.labels();
            row(workload, http, m.http.as_ref());
            row(workload, "direct SQL", Some(&m.direct));
        }
        println!();
        for m in &self.measured {
            let name = match m.workload {
                ReadWorkload::Posts => "posts",
                ReadWorkload::Comments => "comments",
                ReadWorkload::Timeline => "timeline",
            };
            match (&m.http, m.workload) {
                (None, _) => println!("- {name}: HTTP not measured (the server does not serve it yet)"),
                (Some(http), ReadWorkload::Timeline) => timeline_verdict(http, &m.direct),
                (Some(http), _) => verdict(name, http, &m.direct),
            }
        }
        if let Some(t) = &self.timeline {
            let lookups: Vec<String> = t.lookups.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "- timeline: viewers drawn from {}; empty timelines: {} viewers over HTTP, {} directly; \
                 DID-document lookups by the server while measured (source/outcome): {}; tokens minted in {:.1} s \
                 before the run",
                t.viewers,
                t.empty_http,
                t.empty_direct,
                if lookups.is_empty() { "none".to_owned() } else { lookups.join(", ") },
                t.minting.as_secs_f64()
            );
        }
    }
}

fn row(workload: &str, path: &str, figures: Option<&Figures>) {
    let Some(f) = figures else {
        println!("| {workload} | {path} | not served | | | | | |");
        return;
    };
    println!(
        "| {workload} | {path} | {} | {:.0} | {} | {} | {} | {} |",
        f.requests(),
        f.rate(),
        ms(f.percentile(0.5)),
        ms(f.percentile(0.99)),
        ms(f.max()),
        f.errors
    );
}

/// Whether both runs are figures (a run with errors is not); says why not.
fn valid(workload: &str, http: &Figures, direct: &Figures) -> bool {
    let mut valid = true;
    for (path, f) in [("HTTP", http), ("direct", direct)] {
        if let Some(error) = &f.first_error {
            println!("- {workload} {path}: {} errors, NOT a valid figure; first: {error}", f.errors);
            valid = false;
        }
    }
    valid
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// Whether issue 5's targets hold for one workload.
fn verdict(workload: &str, http: &Figures, direct: &Figures) {
    if !valid(workload, http, direct) {
        return;
    }
    let ratio = http.rate() / direct.rate();
    println!(
        "- {workload}: HTTP p99 {} (target < {}: {}); HTTP/direct throughput {:.0}% (target ≥ {:.0}%: {})",
        ms(http.percentile(0.99)),
        ms(P99_TARGET),
        met(http.percentile(0.99) < P99_TARGET),
        ratio * 100.0,
        RATIO_TARGET * 100.0,
        met(ratio >= RATIO_TARGET)
    );
}

/// Whether issue 6's target holds for the timeline, next to the direct path's p99.
fn timeline_verdict(http: &Figures, direct: &Figures) {
    if !valid("timeline", http, direct) {
        return;
    }
    println!(
        "- timeline: HTTP p99 {} (target < {}: {}); direct SQL p99 {}; HTTP/direct throughput {:.0}%",
        ms(http.percentile(0.99)),
        ms(TIMELINE_P99_TARGET),
        met(http.percentile(0.99) < TIMELINE_P99_TARGET),
        ms(direct.percentile(0.99)),
        http.rate() / direct.rate() * 100.0
    );
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
