//! Kill -9 in the middle of the stream, restart: the final state equals an uninterrupted
//! run's (the generator's expected counts), with nothing lost and nothing counted twice.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use coves_appview::generate::{Options, generate};
use coves_appview::ingest::{load_cursor, pipeline::STREAM};
use coves_appview::replay::ReplayServer;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

const BIN: &str = env!("CARGO_BIN_EXE_coves-appview");

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn cursor(url: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    load_cursor(&mut conn, STREAM).await.expect("cursor").unwrap_or(0)
}

async fn vote_counts(url: &str) -> BTreeMap<String, (i64, i64)> {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    coves_plugin_vote::stored_counts(&mut conn).await.expect("counts")
}

fn start_ingest(database_url: &str, jetstream: &str) -> tokio::process::Child {
    tokio::process::Command::new(BIN)
        .args(["serve", "--role", "ingest", "--listen-addr", "127.0.0.1:0", "--batch-size", "200"])
        .args(["--database-url", database_url, "--jetstream-url", jetstream, "--jetstream-rewind", "50ms"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the ingest process")
}

async fn wait_for_cursor(url: &str, at_least: i64, limit: Duration) {
    let started = Instant::now();
    while cursor(url).await < at_least {
        assert!(started.elapsed() < limit, "cursor did not reach {at_least} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_process_killed_mid_stream_resumes_to_the_same_final_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    let options = Options { events: 6_000, seed: 11, communities: 6, users: 80, ..Options::default() };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("file"));
    let summary = generate(&options, &mut out).expect("generate");
    std::io::Write::flush(&mut out).expect("flush");
    drop(out);
    // The last event the ingest subscribes to: votes, profiles, identity and account events.
    let wanted = ["social.coves.feed.vote", "social.coves.actor.profile"];
    let last = std::fs::read_to_string(&file)
        .expect("read")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] != "commit" || wanted.iter().any(|c| v["commit"]["collection"] == *c))
        .filter_map(|v| v["time_us"].as_i64())
        .max()
        .expect("events");

    let name = format!("coves_kill_test_{}", std::process::id());
    let mut admin = AsyncPgConnection::establish(&admin_url()).await.expect("admin connection");
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await.expect("drop");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create");
    let url = coves_appview::db::database_url_on(&admin_url(), &name);
    let plugins = coves_appview::plugins::linked().expect("plugins");
    coves_appview::db::migrate::run(&url, &plugins).await.expect("migrate");

    // Paced, so the kill lands mid-stream.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let replay = ReplayServer::start(listener, file.clone(), Some(1_500)).await.expect("replay");

    let mut first = start_ingest(&url, &replay.url());
    let started = Instant::now();
    while cursor(&url).await == 0 || replay.events_sent() < 1_000 {
        assert!(started.elapsed() < Duration::from_secs(60), "the first process made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().expect("kill -9");
    first.wait().await.expect("reaped");
    let at_kill = cursor(&url).await;
    assert!(at_kill > 0 && at_kill < last, "killed mid-stream (cursor {at_kill}, last {last})");

    let mut second = start_ingest(&url, &replay.url());
    wait_for_cursor(&url, last, Duration::from_secs(90)).await;
    second.start_kill().expect("stop");
    let _ = second.wait().await;
    replay.stop().await;

    assert_eq!(vote_counts(&url).await, summary.vote_counts(), "the final state equals an uninterrupted run's");
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.expect("drop");
}
