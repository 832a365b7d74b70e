//! The read benchmark (issue 5): a generated forum-sized data set is loaded straight into
//! a fresh database with SQL, a real `serve --role api` child process serves it, and 16
//! concurrent clients drive a posts page (GraphQL) and a comment thread (XRPC) over HTTP.
//! Each workload is measured next to its baseline in the same run: the same service
//! functions the server calls, on a pool of the same size, without HTTP, GraphQL or JSON.

mod comments;
mod dataset;
mod driver;
mod posts;
mod server;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use dataset::{LoadFigures, Sizes};
use driver::{Figures, Settings};

/// `bench read` settings.
#[derive(Args, Debug)]
pub struct ReadBenchArgs {
    #[command(flatten)]
    pub sizes: Sizes,
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

/// Targets of the issue: p99 below this, over HTTP.
const P99_TARGET: Duration = Duration::from_millis(25);
/// Targets of the issue: HTTP requests/s at least this share of the direct-SQL figure.
const RATIO_TARGET: f64 = 0.5;

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

/// Both workloads, each over HTTP then directly.
struct Report {
    sizes: Sizes,
    posts_http: Figures,
    posts_direct: Figures,
    /// `None` when the server does not serve `getComments` yet.
    comments_http: Option<Figures>,
    comments_direct: Figures,
}

async fn measure(args: &ReadBenchArgs, url: &str) -> anyhow::Result<Report> {
    let mut conn = AsyncPgConnection::establish(url).await.context("connecting to the benchmark database")?;
    let sizes = dataset::count(&mut conn).await?;
    let communities = Arc::new(posts::targets(&mut conn).await?);
    let threads = Arc::new(comments::targets(&mut conn).await?);
    drop(conn);
    anyhow::ensure!(!communities.is_empty(), "the database has no readable community to read posts from");
    anyhow::ensure!(!threads.is_empty(), "the database has no post with comments to read threads of");

    let settings = Settings {
        concurrency: args.concurrency,
        warmup: Duration::from_secs(args.warmup),
        measured: Duration::from_secs(args.seconds),
    };
    let pool = crate::db::connect(url, args.concurrency, Duration::from_secs(30))?;
    // Dropping the server on an early return kills it.
    let server = server::ApiServer::start(url, args.concurrency).await?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let base = server.base.clone();

    let http = posts::Http { client: client.clone(), base: base.clone(), targets: communities.clone() };
    let posts_http = driver::run("posts over HTTP", &settings, Arc::new(http)).await?;
    let direct = posts::Direct { pool: pool.clone(), targets: communities };
    let posts_direct = driver::run("posts direct", &settings, Arc::new(direct)).await?;

    let http = comments::Http { client, base, targets: threads.clone() };
    let comments_http = if http.served().await? {
        Some(driver::run("comments over HTTP", &settings, Arc::new(http)).await?)
    } else {
        eprintln!("comments over HTTP: skipped, the server does not serve {} yet", comments::METHOD);
        None
    };
    let direct = comments::Direct { pool, targets: threads };
    let comments_direct = driver::run("comments direct", &settings, Arc::new(direct)).await?;
    server.stop().await;
    Ok(Report { sizes, posts_http, posts_direct, comments_http, comments_direct })
}

impl Report {
    fn print(&self, args: &ReadBenchArgs, db: &BenchDatabase) {
        let s = &self.sizes;
        println!(
            "Data set: {} readable communities, {} actors, {} posts, {} votes, {} comments.",
            s.communities, s.actors, s.posts, s.votes, s.comments
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
        let posts = "posts(community, HOT, first 25)";
        let comments = "getComments(depth 3, hot, limit 25)";
        row(posts, "HTTP, GraphQL", Some(&self.posts_http));
        row(posts, "direct SQL", Some(&self.posts_direct));
        row(comments, "HTTP, XRPC", self.comments_http.as_ref());
        row(comments, "direct SQL", Some(&self.comments_direct));
        println!();
        verdict("posts", &self.posts_http, &self.posts_direct);
        match &self.comments_http {
            Some(http) => verdict("comments", http, &self.comments_direct),
            None => println!("- comments: HTTP not measured (the server does not serve {} yet)", comments::METHOD),
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

/// Whether the targets hold for one workload; a run with errors is no figure.
fn verdict(workload: &str, http: &Figures, direct: &Figures) {
    let mut valid = true;
    for (path, f) in [("HTTP", http), ("direct", direct)] {
        if let Some(error) = &f.first_error {
            println!("- {workload} {path}: {} errors, NOT a valid figure; first: {error}", f.errors);
            valid = false;
        }
    }
    if !valid {
        return;
    }
    let ratio = http.rate() / direct.rate();
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
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

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
