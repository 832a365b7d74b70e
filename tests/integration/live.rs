//! Live counts over GraphQL websockets: values after each (coalesced) change, exact final
//! counts, resumption with `after`, an API-only server fed by a separate ingest, a
//! listener that loses its connection, and the guardrails (caps, slow consumers,
//! `connection_init` deadline, unknown subjects).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use chrono::Utc;
use coves_appview::graphql::SocketSettings;
use coves_appview::replay::ReplayServer;
use coves_plugin_api::live::{LiveKind, LiveSettings, LiveValue};
use coves_tests::TestApp;
use coves_tests::forum::{Forum, Ref, VOTE, known_actor, readable_community};
use coves_tests::ingest::client_config;
use coves_tests::ws::{LiveSocket, Protocol, Received};
use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};

const COMMUNITY: &str = "did:plc:community222222222222222";
const ALICE: &str = "did:plc:alice2222222222222222222";
const POST_STATS: &str = "subscription($uri: String!, $after: Seq) { postStats(uri: $uri, after: $after) { \
     uri seq changedAt score upvotes downvotes commentCount totalCommentCount } }";

async fn forum_with_post(app: &TestApp) -> (Forum, Ref) {
    readable_community(app, COMMUNITY, "gardening").await;
    known_actor(app, ALICE, "alice.test").await;
    let forum = Forum::new();
    let (post, event) = forum.post(COMMUNITY, ALICE, "live", "2026-01-01T00:00:00Z");
    app.ingest(&[event]).await;
    (forum, post)
}

fn voter(i: usize) -> String {
    format!("did:plc:livevoter{i:0>15}")
}

/// The next value of subscription `id`, failing on anything else.
async fn value(socket: &mut LiveSocket, id: &str) -> Value {
    match socket.next().await {
        Received::Next(got, data) if got == id => data,
        other => panic!("expected a value of {id}, got {other:?}"),
    }
}

/// Values of `id` until one has `score`; returns how many arrived and the last.
async fn until_score(socket: &mut LiveSocket, id: &str, score: i64) -> (usize, Value) {
    let mut seen = 0;
    loop {
        let data = value(socket, id).await;
        seen += 1;
        if data["postStats"]["score"] == score {
            return (seen, data);
        }
    }
}

#[tokio::test]
async fn subscribers_see_each_change_and_end_at_the_exact_count() {
    let app = TestApp::start().await;
    let (forum, post) = forum_with_post(&app).await;
    let mut sockets = Vec::new();
    for protocol in [Protocol::TransportWs, Protocol::LegacyWs] {
        let mut socket = LiveSocket::connect(&app.ws_url(), protocol).await;
        socket.subscribe("1", POST_STATS, json!({"uri": post.uri})).await;
        let first = value(&mut socket, "1").await;
        assert_eq!(
            (&first["postStats"]["score"], &first["postStats"]["commentCount"], &first["postStats"]["changedAt"]),
            (&json!(0), &json!(0), &Value::Null),
            "{protocol:?}: {first}"
        );
        sockets.push(socket);
    }

    // Three batches, each waited for: every subscriber gets each new value, in order.
    let mut votes = Vec::new();
    let mut last_seq = 0;
    for round in 1..=3_i64 {
        let mut events = Vec::new();
        let voted = votes.len();
        for i in 0..2 {
            let (vote, event) = forum.vote(&voter(voted + i), &post, "up");
            votes.push(vote);
            events.push(event);
        }
        app.ingest(&events).await;
        let mut seqs = Vec::new();
        for socket in &mut sockets {
            let data = value(socket, "1").await;
            assert_eq!(data["postStats"]["upvotes"], round * 2, "{data}");
            seqs.push(data["postStats"]["seq"].as_i64().expect("seq is a number"));
            let changed = data["postStats"]["changedAt"].as_str().expect("changedAt after a change");
            let at = chrono::DateTime::parse_from_rfc3339(changed).expect("RFC 3339");
            assert!((Utc::now() - at.with_timezone(&Utc)).num_seconds() < 10, "{changed}");
        }
        assert!(
            seqs.iter().all(|s| *s == seqs[0] && *s > last_seq),
            "one label per value, growing: {seqs:?} after {last_seq}"
        );
        last_seq = seqs[0];
    }
    // A flip, a delete, a downvote and a comment, in one batch: one value with all of it.
    let mut events = vec![
        forum.vote(&voter(0), &post, "down").1,
        forum.delete(&voter(1), VOTE, &votes[1]),
        forum.vote(&voter(99), &post, "down").1,
    ];
    let (_, comment) = forum.comment(ALICE, &post, &post, "first!", "2026-01-01T00:01:00Z");
    events.push(comment);
    app.ingest(&events).await;
    let stored = app.vote_counts().await[&post.uri];
    assert_eq!(stored, (4, 2), "6 up, one flipped, one deleted; 2 down");
    for socket in &mut sockets {
        let data = value(socket, "1").await;
        assert_eq!(
            data["postStats"],
            json!({"uri": post.uri, "seq": data["postStats"]["seq"], "changedAt": data["postStats"]["changedAt"], "score": 2,
                   "upvotes": 4, "downvotes": 2, "commentCount": 1, "totalCommentCount": 1})
        );
    }
}

#[tokio::test]
async fn bursts_are_coalesced_into_fewer_values() {
    let app = TestApp::with_live(
        LiveSettings { coalesce_window: Duration::from_millis(300), ..LiveSettings::default() },
        SocketSettings::default(),
    )
    .await;
    let (forum, post) = forum_with_post(&app).await;
    let mut socket = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    socket.subscribe("s", POST_STATS, json!({"uri": post.uri})).await;
    value(&mut socket, "s").await;
    // Twenty batches of one vote, as fast as they commit.
    for i in 0..20 {
        app.ingest(&[forum.vote(&voter(i), &post, "up").1]).await;
    }
    let (values, last) = until_score(&mut socket, "s", 20).await;
    assert!(values < 20, "20 batches arrived as {values} values");
    assert_eq!(last["postStats"]["upvotes"], 20);
    assert!(socket.next_within(Duration::from_millis(700)).await.is_none(), "nothing after the final value");
}

#[tokio::test]
async fn resuming_with_after_sends_a_value_only_when_something_changed() {
    let app = TestApp::start().await;
    let (forum, post) = forum_with_post(&app).await;
    app.ingest(&[forum.vote(&voter(1), &post, "up").1]).await;
    let mut socket = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    socket.subscribe("a", POST_STATS, json!({"uri": post.uri})).await;
    let seq = value(&mut socket, "a").await["postStats"]["seq"].as_i64().expect("seq");
    socket.complete("a").await;

    // Reconnecting with the last seq: nothing missed, nothing sent...
    let mut again = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    again.subscribe("b", POST_STATS, json!({"uri": post.uri, "after": seq})).await;
    assert_eq!(again.next_within(Duration::from_millis(600)).await, None, "the client is up to date");
    // ...until something changes.
    app.ingest(&[forum.vote(&voter(2), &post, "up").1]).await;
    let next = value(&mut again, "b").await;
    assert_eq!(next["postStats"]["upvotes"], 2);
    assert!(next["postStats"]["seq"].as_i64().expect("seq") > seq);

    // A client that missed a change gets the latest value at once.
    let mut behind = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    behind.subscribe("c", POST_STATS, json!({"uri": post.uri, "after": seq})).await;
    assert_eq!(value(&mut behind, "c").await["postStats"]["upvotes"], 2);
}

/// Jetstream's JSON for a vote create.
fn jetstream_vote(voter: &str, rkey: &str, time_us: i64, post: &Ref) -> String {
    json!({"did": voter, "time_us": time_us, "kind": "commit", "commit": {
        "rev": rkey, "operation": "create", "collection": VOTE, "rkey": rkey, "cid": "bafyreivote",
        "record": {"$type": VOTE, "subject": post.strong(), "direction": "up", "createdAt": "2026-01-01T00:00:00Z"}}})
    .to_string()
}

#[tokio::test]
async fn an_api_only_server_delivers_counts_written_by_a_separate_ingest() {
    // The test server runs no ingest; the real Jetstream client and pipeline write the
    // votes through their own connections, as an ingest-only process would.
    let app = TestApp::start().await;
    let (_forum, post) = forum_with_post(&app).await;
    let mut socket = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    socket.subscribe("1", POST_STATS, json!({"uri": post.uri})).await;
    assert_eq!(value(&mut socket, "1").await["postStats"]["score"], 0);

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("votes.jsonl");
    let lines: Vec<String> =
        (0..300).map(|i| jetstream_vote(&voter(i), &format!("3lv{i:010}"), 10_000_000 + i as i64, &post)).collect();
    std::fs::write(&file, lines.join("\n") + "\n").expect("events written");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = ReplayServer::start(listener, file, None).await.expect("replay server");
    let ingest = app.start_ingest(client_config(&server.url(), false), 50);
    let (values, last) = until_score(&mut socket, "1", 300).await;
    ingest.stop().await;
    assert!(values >= 1, "{values}");
    assert_eq!(last["postStats"]["upvotes"], 300);
    assert_eq!(app.vote_counts().await[&post.uri], (300, 0));
}

#[tokio::test]
async fn a_lost_listener_reconnects_and_subscribers_get_the_right_value() {
    let app = TestApp::start().await;
    let (forum, post) = forum_with_post(&app).await;
    let mut socket = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    socket.subscribe("1", POST_STATS, json!({"uri": post.uri})).await;
    value(&mut socket, "1").await;

    // Kill the listener's connection, then change the count while it is away.
    let mut conn = app.db.connect().await;
    let killed: Vec<Killed> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
        )
        .bind::<diesel::sql_types::Text, _>(coves_appview::live::LISTENER_NAME),
        &mut conn,
    )
    .await
    .expect("terminate");
    assert_eq!(killed.len(), 1, "one listener per server");
    for i in 0..5 {
        app.ingest(&[forum.vote(&voter(i), &post, "up").1]).await;
    }
    // Whatever was announced while it was away, the reconnected listener reloads it.
    let (_, last) = until_score(&mut socket, "1", 5).await;
    assert_eq!(last["postStats"]["upvotes"], 5);
    // And it listens again.
    app.ingest(&[forum.vote(&voter(9), &post, "up").1]).await;
    assert_eq!(until_score(&mut socket, "1", 6).await.1["postStats"]["upvotes"], 6);
}

#[derive(diesel::QueryableByName)]
struct Killed {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    #[allow(dead_code)]
    done: bool,
}

/// An error of a subscription, and the `complete` that follows it.
async fn refused(socket: &mut LiveSocket) -> (String, Value) {
    let Received::Error(id, errors) = socket.next().await else { panic!("expected an error") };
    assert_eq!(socket.next().await, Received::Complete(id.clone()), "an error ends the subscription");
    (id, errors)
}

#[tokio::test]
async fn caps_unknown_subjects_and_malformed_identifiers_get_clear_errors() {
    let app = TestApp::with_live(
        LiveSettings { max_subscriptions: 3, max_subscriptions_per_connection: 2, ..LiveSettings::default() },
        SocketSettings::default(),
    )
    .await;
    let (_forum, post) = forum_with_post(&app).await;
    let mut socket = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    for id in ["1", "2"] {
        socket.subscribe(id, POST_STATS, json!({"uri": post.uri})).await;
        value(&mut socket, id).await;
    }
    socket.subscribe("3", POST_STATS, json!({"uri": post.uri})).await;
    let (id, errors) = refused(&mut socket).await;
    assert_eq!((id.as_str(), &errors[0]["extensions"]["code"]), ("3", &json!("TooManySubscriptions")), "{errors}");
    assert!(errors[0]["message"].as_str().is_some_and(|m| m.contains("at most 2")), "{errors}");

    // The global cap counts every connection.
    let mut other = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    other.subscribe("a", POST_STATS, json!({"uri": post.uri})).await;
    value(&mut other, "a").await;
    other.subscribe("b", POST_STATS, json!({"uri": post.uri})).await;
    let (_, errors) = refused(&mut other).await;
    assert!(errors[0]["message"].as_str().is_some_and(|m| m.contains("maximum of 3")), "{errors}");
    // Completing one frees its place.
    socket.complete("1").await;
    assert_eq!(socket.next().await, Received::Complete("1".into()));
    other.subscribe("c", POST_STATS, json!({"uri": post.uri})).await;
    value(&mut other, "c").await;

    // Unknown and malformed subjects (with a place free).
    socket.complete("2").await;
    assert_eq!(socket.next().await, Received::Complete("2".into()));
    let mut fresh = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    let unknown = post.uri.replace("3la", "3lz");
    socket.subscribe("u", POST_STATS, json!({"uri": unknown})).await;
    let (_, errors) = refused(&mut socket).await;
    assert_eq!(errors[0]["extensions"]["code"], "NotFound", "{errors}");
    for (uri, says) in
        [("https://example.com/x", "not an AT-URI"), ("at://did:plc:x/app.bsky.feed.post/1", "not the URI")]
    {
        fresh.subscribe("m", POST_STATS, json!({"uri": uri})).await;
        let (_, errors) = refused(&mut fresh).await;
        assert_eq!(errors[0]["extensions"]["code"], "InvalidRequest", "{errors}");
        assert!(errors[0]["message"].as_str().is_some_and(|m| m.contains(says)), "{errors}");
    }
    let community = "subscription($id: String!) { communityStats(id: $id) { did subscriberCount postCount } }";
    fresh.subscribe("c1", community, json!({"id": "!gardening@coves.test"})).await;
    let Received::Next(_, data) = fresh.next().await else { panic!("community stats") };
    assert_eq!(data["communityStats"], json!({"did": COMMUNITY, "subscriberCount": 0, "postCount": 1}));
    fresh.subscribe("c2", community, json!({"id": "!nothing@coves.test"})).await;
    let (_, errors) = refused(&mut fresh).await;
    assert_eq!(errors[0]["extensions"]["code"], "CommunityNotFound", "{errors}");
}

#[tokio::test]
async fn a_socket_without_connection_init_is_closed_at_the_deadline() {
    let app = TestApp::with_live(
        LiveSettings::default(),
        SocketSettings { init_timeout: Duration::from_millis(300), ..SocketSettings::default() },
    )
    .await;
    let mut socket = LiveSocket::open(&app.ws_url(), Protocol::TransportWs).await;
    let closed = socket.next_within(Duration::from_secs(5)).await;
    assert_eq!(closed, Some(Received::Closed(Some((4408, "Connection initialisation timeout".into())))));
}

/// A kind whose value is a counter the test moves, to drive the hub directly.
static COUNTER: AtomicI32 = AtomicI32::new(0);
static COUNTER_KIND: LiveKind = LiveKind {
    name: "testCounter",
    load: |_, subjects| {
        let value = COUNTER.load(Ordering::SeqCst);
        futures::future::ready(Ok(subjects
            .iter()
            .map(|s| (s.clone(), Arc::new(value) as LiveValue))
            .collect::<HashMap<_, _>>()))
        .boxed()
    },
};

#[tokio::test]
async fn a_slow_consumer_is_dropped_without_slowing_the_others() {
    let app = TestApp::with_live(
        LiveSettings { coalesce_window: Duration::from_millis(5), queue: 4, ..LiveSettings::default() },
        SocketSettings::default(),
    )
    .await;
    let hub = app.app.live.clone();
    let mut slow = hub.subscribe(&COUNTER_KIND, "subject".into(), None, None).expect("subscribed").boxed();
    let mut prompt = hub.subscribe(&COUNTER_KIND, "subject".into(), None, None).expect("subscribed").boxed();
    let first = |u: coves_plugin_api::live::LiveUpdate| *u.value.expect("a value").downcast_ref::<i32>().expect("i32");
    assert_eq!(first(prompt.next().await.expect("first").expect("ok")), 0);
    for n in 1..=10 {
        COUNTER.store(n, Ordering::SeqCst);
        hub.notified(n.into(), Utc::now(), ["subject"]);
        // The prompt subscriber takes every value as it comes.
        let update = tokio::time::timeout(Duration::from_secs(5), prompt.next()).await.expect("in time");
        assert_eq!(first(update.expect("a value").expect("ok")), n);
    }
    // The slow one fell more than its queue behind: after what it still holds, it is dropped.
    let mut outcome = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(5), slow.next()).await.expect("in time") {
        outcome.push(item.map(first).map_err(|e| e.name.to_string()));
    }
    assert_eq!(outcome.last(), Some(&Err("SlowConsumer".to_owned())), "{outcome:?}");
    assert!(outcome.len() <= 5, "{outcome:?}");
}

#[tokio::test]
async fn clients_that_stop_answering_pings_are_closed() {
    let app = TestApp::with_live(
        LiveSettings::default(),
        SocketSettings { keepalive: Duration::from_millis(200), ..SocketSettings::default() },
    )
    .await;
    // A client that reads (and so answers pings) stays connected.
    let mut lively = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    assert_eq!(lively.next_within(Duration::from_millis(1_200)).await, None, "still open after six pings");
    // One that stops reading is closed after two intervals of silence.
    let mut silent = LiveSocket::connect(&app.ws_url(), Protocol::TransportWs).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    // Its close frame may be lost when the socket is already reset (the client's late pong
    // meets a closed connection); either way the server has hung up.
    match silent.next_within(Duration::from_secs(5)).await {
        Some(Received::Closed(None)) => {}
        Some(Received::Closed(Some((code, reason)))) => {
            assert_eq!((code, reason.as_str()), (1001, "keepalive timeout: no answer to pings"));
        }
        other => panic!("expected the server to close the silent client, got {other:?}"),
    }
}
