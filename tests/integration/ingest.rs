//! The ingest end to end: a local Jetstream replay server, the real client and pipeline,
//! real PostgreSQL.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use coves_appview::generate::{Options, Summary};
use coves_appview::replay::ReplayServer;
use coves_tests::TestApp;
use coves_tests::ingest::{client_config, generate_file, last_wanted_time_us};

const WAIT: Duration = Duration::from_secs(60);

fn options(events: u64) -> Options {
    Options { events, seed: 7, communities: 5, users: 60, ..Options::default() }
}

/// Expected (reply_count, thread_count) per post and comment URI, non-zero only: a post's
/// commentCount and totalCommentCount, a comment's replyCount (nothing has a comment as
/// its root).
fn expected_comment_counts(summary: &Summary) -> BTreeMap<String, (i64, i64)> {
    let posts = summary.posts.iter().map(|(uri, p)| (uri, p.comment_count, p.total_comment_count));
    let comments = summary.comments.iter().map(|(uri, c)| (uri, c.reply_count, 0));
    posts
        .chain(comments)
        .filter(|(_, replies, thread)| *replies != 0 || *thread != 0)
        .map(|(uri, replies, thread)| (uri.clone(), (replies as i64, thread as i64)))
        .collect()
}

/// Posts whose `score` differs from their vote counts (the vote_counts triggers keep it).
async fn stale_post_scores(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.connect().await;
    let stale: Count = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(
            "SELECT count(*) AS n FROM posts p LEFT JOIN vote_counts vc ON vc.subject_uri = p.uri \
             WHERE p.score <> COALESCE(vc.upvotes - vc.downvotes, 0)",
        ),
        &mut conn,
    )
    .await
    .expect("posts query");
    stale.n
}

async fn replay(path: &std::path::Path) -> ReplayServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    ReplayServer::start(listener, path.to_owned(), None).await.expect("replay server")
}

#[tokio::test]
async fn compressed_and_uncompressed_streams_give_identical_exact_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    let summary = generate_file(&file, &options(4_000));
    let server = replay(&file).await;
    let last = last_wanted_time_us(&file);

    let mut results = Vec::new();
    for compress in [false, true] {
        let app = TestApp::start().await;
        let ingest = app.start_ingest(client_config(&server.url(), compress), 500);
        app.wait_for_cursor(last, WAIT).await;
        ingest.stop().await;
        let query = server.last_query().expect("a connection");
        assert!(query.contains("wantedCollections=social.coves.feed.vote"), "{query}");
        assert_eq!(query.contains("compress=true"), compress, "{query}");
        results.push((app.vote_counts().await, app.actor_profiles().await, app.comment_counts().await));
        assert_eq!(stale_post_scores(&app).await, 0, "every post's score follows its vote counts");
    }
    assert_eq!(results[0].0, summary.vote_counts(), "counts equal the generator's");
    assert!(!results[0].2.is_empty(), "comments were counted");
    assert_eq!(results[0].2, expected_comment_counts(&summary), "comment counts equal the generator's");
    assert!(!results[0].1.is_empty(), "profiles were indexed");
    assert_eq!(results[0], results[1], "compression changes nothing");
}

#[tokio::test]
async fn replaying_the_same_events_twice_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    let summary = generate_file(&file, &options(3_000));
    let server = replay(&file).await;
    let app = TestApp::start().await;

    let ingest = app.start_ingest(client_config(&server.url(), false), 400);
    app.wait_for_cursor(last_wanted_time_us(&file), WAIT).await;
    ingest.stop().await;
    let first = (app.vote_counts().await, app.actor_profiles().await, app.comment_counts().await);

    // Forget the cursor: the whole stream is delivered and applied again.
    let mut conn = app.db.connect().await;
    diesel_async::RunQueryDsl::execute(diesel::sql_query("DELETE FROM ingest_cursor"), &mut conn).await.expect("reset");
    let ingest = app.start_ingest(client_config(&server.url(), false), 400);
    app.wait_for_cursor(last_wanted_time_us(&file), WAIT).await;
    ingest.stop().await;
    assert_eq!((app.vote_counts().await, app.actor_profiles().await, app.comment_counts().await), first);
    assert_eq!(first.0, summary.vote_counts());
    assert_eq!(first.2, expected_comment_counts(&summary));
}

#[tokio::test]
async fn the_client_reconnects_after_the_server_drops_the_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    let summary = generate_file(&file, &options(3_000));
    let server = replay(&file).await;
    server.drop_after(Some(700));
    let app = TestApp::start().await;

    let ingest = app.start_ingest(client_config(&server.url(), true), 200);
    app.wait_for_cursor(last_wanted_time_us(&file), WAIT).await;
    ingest.stop().await;
    assert!(server.connections() >= 2, "{} connections: the socket was dropped and resumed", server.connections());
    let query = server.last_query().expect("a connection");
    assert!(query.contains("cursor="), "a reconnect resumes from the cursor: {query}");
    assert_eq!(app.vote_counts().await, summary.vote_counts());
    assert_eq!(app.comment_counts().await, expected_comment_counts(&summary));
}

#[tokio::test]
async fn bad_events_are_skipped_and_counted_while_good_ones_around_them_apply() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    let voter = "did:plc:voter0000000000000000001";
    let post = "at://did:plc:community000000000000000/social.coves.community.post/3kpost0000001";
    let good = |n: u32, time_us: u64| {
        format!(
            r#"{{"did":"{voter}","time_us":{time_us},"kind":"commit","commit":{{"rev":"3kr000000000{n}","operation":"create","collection":"social.coves.feed.vote","rkey":"3kv000000000{n}","record":{{"$type":"social.coves.feed.vote","subject":{{"uri":"{post}","cid":"bafyreisubject"}},"direction":"up","createdAt":"2026-01-01T00:00:0{n}Z"}},"cid":"bafyreivote{n}"}}}}"#
        )
    };
    let lines = [
        good(1, 1_000),
        r#"{"did":"did:plc:voter0000000000000000001","time_us":1001,"kind":"commit","commit":{"#.to_owned(),
        r#"{"did":"did:plc:voter0000000000000000001","time_us":1002,"kind":"party"}"#.to_owned(),
        format!(
            r#"{{"did":"{voter}","time_us":1003,"kind":"commit","commit":{{"rev":"3kr0000000003","operation":"create","collection":"social.coves.feed.vote","rkey":"3kv0000000009","record":{{"subject":{{"uri":"{post}","cid":"x"}},"direction":"sideways"}},"cid":"bafyreibad"}}}}"#
        ),
        r#"{"did":"did:plc:voter0000000000000000002","time_us":1004,"kind":"commit","commit":{"rev":"3kr0000000004","operation":"create","collection":"social.coves.feed.vote","rkey":"..","record":{},"cid":"c"}}"#.to_owned(),
        format!(r#"{{"did":"did:plc:voter0000000000000000002","time_us":1005,"kind":"commit","commit":{{"rev":"3kr0000000005","operation":"create","collection":"social.coves.feed.vote","rkey":"3kv0000000005","record":{{"$type":"social.coves.feed.vote","subject":{{"uri":"{post}","cid":"bafyreisubject"}},"direction":"down","createdAt":"2026-01-01T00:00:05Z"}},"cid":"bafyreivote5"}}}}"#),
    ];
    let mut out = std::fs::File::create(&file).expect("create");
    for line in &lines {
        writeln!(out, "{line}").expect("write");
    }
    drop(out);
    let server = replay(&file).await;
    let app = TestApp::start().await;
    let ingest = app.start_ingest(client_config(&server.url(), false), 10);
    app.wait_for_cursor(1_005, WAIT).await;
    ingest.stop().await;
    assert_eq!(app.vote_counts().await, [(post.to_owned(), (1, 1))].into_iter().collect());

    let metrics =
        app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics").text().await.expect("text");
    for reason in ["malformed_json", "unknown_kind", "invalid_direction", "invalid_rkey"] {
        assert!(
            metrics.contains(&format!("ingest_events_skipped_total{{reason=\"{reason}\"}}")),
            "no {reason} counter in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn production_captures_of_other_apps_pass_through_without_error() {
    let path =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/jetstream/network_sample_v1.jsonl"));
    // Our wantedCollections filter keeps only the identity and account events of this
    // capture (it holds no Coves records); the cursor must reach the last of them.
    let last = last_wanted_time_us(path);
    let server = replay(path).await;
    let app = TestApp::start().await;
    let ingest = app.start_ingest(client_config(&server.url(), true), 50);
    app.wait_for_cursor(last, WAIT).await;
    ingest.stop().await;
}
