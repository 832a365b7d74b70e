//! Community subscriptions (COVES_API §2.2, §7): who is subscribed, with which
//! contentVisibility, and exact subscriber counts under every order of arrival; the
//! GraphQL viewer state and lists; the `subscribe`/`unsubscribe` write procedures.

use coves_tests::TestApp;
use coves_tests::auth::{TestKey, bearer, mint, now};
use coves_tests::forum::{Forum, SUBSCRIPTION, known_actor, readable_community};
use coves_tests::network::TestIdentity;
use diesel::sql_types::{BigInt, Nullable, SmallInt, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

/// The audience `TestApp` configures as INSTANCE_DID.
const AUDIENCE: &str = "did:web:appview.test";
const GARDENING: &str = "did:plc:gardening00000000000000";
const COOKING: &str = "did:plc:cooking000000000000000000";
const HIKING: &str = "did:plc:hiking0000000000000000000";
const ALICE: &str = "did:plc:alice000000000000000000000";
const BOB: &str = "did:plc:bob00000000000000000000000";
const CAROL: &str = "did:plc:carol000000000000000000000";

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
struct Count {
    #[diesel(sql_type = Text)]
    did: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every community's stored subscriber_count, by DID order.
async fn stored_counts(app: &TestApp) -> Vec<(String, i64)> {
    let mut conn = app.db.connect().await;
    let rows: Vec<Count> = diesel::sql_query("SELECT did, subscriber_count AS n FROM communities ORDER BY did")
        .load(&mut conn)
        .await
        .expect("counts");
    rows.into_iter().map(|c| (c.did, c.n)).collect()
}

/// The same counts recounted from the subscription rows.
async fn recounted(app: &TestApp) -> Vec<(String, i64)> {
    let mut conn = app.db.connect().await;
    let rows: Vec<Count> = diesel::sql_query(
        "SELECT c.did, (SELECT count(DISTINCT r.actor_did) FROM community_subscription_records r \
           WHERE r.community_did = c.did AND NOT r.deleted) AS n FROM communities c ORDER BY c.did",
    )
    .load(&mut conn)
    .await
    .expect("recount");
    rows.into_iter().map(|c| (c.did, c.n)).collect()
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
struct Row {
    #[diesel(sql_type = Text)]
    actor_did: String,
    #[diesel(sql_type = Text)]
    community_did: String,
    #[diesel(sql_type = Text)]
    rkey: String,
    #[diesel(sql_type = SmallInt)]
    content_visibility: i16,
}

/// The relation rows: (actor, community, rkey, visibility).
async fn subscriptions(app: &TestApp) -> Vec<(String, String, String, i16)> {
    let mut conn = app.db.connect().await;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT actor_did, community_did, rkey, content_visibility FROM community_subscriptions \
         ORDER BY actor_did, community_did",
    )
    .load(&mut conn)
    .await
    .expect("subscriptions");
    rows.into_iter().map(|r| (r.actor_did, r.community_did, r.rkey, r.content_visibility)).collect()
}

fn row(actor: &str, community: &str, rkey: &str, visibility: i16) -> (String, String, String, i16) {
    (actor.to_owned(), community.to_owned(), rkey.to_owned(), visibility)
}

#[tokio::test]
async fn subscriber_counts_are_exact_under_replays_duplicates_and_reordering() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    readable_community(&app, GARDENING, "gardening").await;

    let (alice_1, alice_1_create) = forum.subscribe(ALICE, GARDENING, None);
    let (_, bob_create) = forum.subscribe(BOB, GARDENING, None);
    let outcome = app.ingest(&[alice_1_create.clone(), bob_create.clone()]).await;
    assert_eq!(outcome.changed_subjects, [GARDENING], "the community's count is announced by its DID");
    assert_eq!(stored_counts(&app).await, [(GARDENING.to_owned(), 2)]);

    let outcome = app.ingest(&[alice_1_create.clone(), bob_create]).await;
    assert!(outcome.changed_subjects.is_empty(), "a replay changes nothing: {outcome:?}");
    assert_eq!(stored_counts(&app).await, [(GARDENING.to_owned(), 2)]);

    // A second live record for the same pair is the same subscriber.
    let (alice_2, alice_2_create) = forum.subscribe(ALICE, GARDENING, Some(json!(5)));
    let outcome = app.ingest(&[alice_2_create]).await;
    assert!(outcome.changed_subjects.is_empty(), "{outcome:?}");
    assert_eq!(stored_counts(&app).await, [(GARDENING.to_owned(), 2)]);

    app.ingest(&[forum.delete(ALICE, SUBSCRIPTION, &alice_1)]).await;
    assert_eq!(stored_counts(&app).await, [(GARDENING.to_owned(), 2)], "one live record left: still subscribed");
    let outcome = app.ingest(&[forum.delete(ALICE, SUBSCRIPTION, &alice_2)]).await;
    assert_eq!(outcome.changed_subjects, [GARDENING]);
    assert_eq!(stored_counts(&app).await, [(GARDENING.to_owned(), 1)], "the last live record is gone");

    // An unsubscribe that overtakes its subscribe leaves no trace, and a replayed create
    // of a deleted record does not revive it.
    let (carol, carol_create) = forum.subscribe(CAROL, GARDENING, None);
    let carol_delete = forum.delete(CAROL, SUBSCRIPTION, &carol);
    app.ingest(&[carol_delete]).await;
    let outcome = app.ingest(&[carol_create]).await;
    assert!(outcome.changed_subjects.is_empty(), "{outcome:?}");
    app.ingest(&[alice_1_create]).await;
    assert_eq!(stored_counts(&app).await, [(GARDENING.to_owned(), 1)]);
    assert_eq!(subscriptions(&app).await.len(), 1, "only bob's subscription is live");
    assert_eq!(stored_counts(&app).await, recounted(&app).await, "a recount from rows equals the counter");
}

#[tokio::test]
async fn counts_equal_a_recount_whatever_the_batching_and_order() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    readable_community(&app, GARDENING, "gardening").await;
    readable_community(&app, COOKING, "cooking").await;
    // Per actor: two subscriptions to one community, one to the other, then one deleted.
    let mut events = Vec::new();
    for actor in [ALICE, BOB, CAROL] {
        let (first, create_first) = forum.subscribe(actor, GARDENING, None);
        let (_, create_second) = forum.subscribe(actor, GARDENING, Some(json!(2)));
        let (cooking, create_cooking) = forum.subscribe(actor, COOKING, None);
        events.extend([create_first, create_second, create_cooking]);
        events.push(forum.delete(actor, SUBSCRIPTION, &first));
        if actor == CAROL {
            events.push(forum.delete(actor, SUBSCRIPTION, &cooking));
        }
    }
    // Reversed and in small batches: deletes arrive before their creates, and a pair's
    // records arrive in either order.
    for chunk in events.rchunks(2) {
        app.ingest(chunk).await;
    }
    let expected = vec![(COOKING.to_owned(), 2), (GARDENING.to_owned(), 3)];
    assert_eq!(stored_counts(&app).await, expected);
    assert_eq!(recounted(&app).await, expected);
    // Everything again in one batch, in stream order: a replay.
    app.ingest(&events).await;
    assert_eq!(stored_counts(&app).await, expected);
}

#[tokio::test]
async fn a_subscription_before_its_community_counts_when_the_community_arrives() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    let (alice, create) = forum.subscribe(ALICE, HIKING, None);
    let outcome = app.ingest(&[create]).await;
    assert!(outcome.skipped.is_empty(), "{outcome:?}");
    assert_eq!(subscriptions(&app).await, [row(ALICE, HIKING, &alice.rkey, 3)], "stored without its community");

    readable_community(&app, HIKING, "hiking").await;
    assert_eq!(stored_counts(&app).await, [(HIKING.to_owned(), 1)]);

    app.ingest(&[forum.delete(ALICE, SUBSCRIPTION, &alice)]).await;
    assert_eq!(stored_counts(&app).await, [(HIKING.to_owned(), 0)]);
}

#[tokio::test]
async fn visibility_is_clamped_and_the_newest_live_record_wins() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    let cases = [
        ("did:plc:clamp0000000000000000000a", Some(json!(0)), 1),
        ("did:plc:clamp0000000000000000000b", Some(json!(9)), 5),
        ("did:plc:clamp0000000000000000000c", None, 3),
        ("did:plc:clamp0000000000000000000d", Some(json!("high")), 3),
        ("did:plc:clamp0000000000000000000e", Some(json!(2.5)), 3),
        ("did:plc:clamp0000000000000000000f", Some(json!(4)), 4),
    ];
    let mut expected = Vec::new();
    for (community, visibility, clamped) in cases {
        let (record, event) = forum.subscribe(ALICE, community, visibility);
        app.ingest(&[event]).await;
        expected.push(row(ALICE, community, &record.rkey, clamped));
    }
    assert_eq!(subscriptions(&app).await, expected);

    let (older, older_create) = forum.subscribe(BOB, GARDENING, Some(json!(1)));
    let (newer, newer_create) = forum.subscribe(BOB, GARDENING, Some(json!(5)));
    // Arrival order does not matter: createdAt (then rkey) decides.
    app.ingest(&[newer_create]).await;
    app.ingest(&[older_create]).await;
    let bob = |record: &coves_tests::forum::Ref, visibility| vec![row(BOB, GARDENING, &record.rkey, visibility)];
    let only_bob = |all: Vec<(String, String, String, i16)>| all.into_iter().filter(|r| r.0 == BOB).collect::<Vec<_>>();
    assert_eq!(only_bob(subscriptions(&app).await), bob(&newer, 5));
    app.ingest(&[forum.delete(BOB, SUBSCRIPTION, &newer)]).await;
    assert_eq!(only_bob(subscriptions(&app).await), bob(&older, 1), "the older record takes over");
}

#[tokio::test]
async fn handle_subjects_are_resolved_and_bad_records_skipped_with_reasons() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    readable_community(&app, GARDENING, "gardening").await;
    let record =
        |subject: Value| json!({"$type": SUBSCRIPTION, "subject": subject, "createdAt": "2026-01-01T00:00:00Z"});
    let (by_handle, handle_event) = forum.create(ALICE, SUBSCRIPTION, record(json!("c-gardening.coves.test")));
    let (_, at_handle_event) = forum.create(BOB, SUBSCRIPTION, record(json!("@C-Gardening.coves.test")));
    let (_, unknown) = forum.create(CAROL, SUBSCRIPTION, record(json!("c-nowhere.coves.test")));
    let (_, no_subject) = forum.create(CAROL, SUBSCRIPTION, json!({"createdAt": "2026-01-01T00:00:00Z"}));
    let (_, bad_did) = forum.create(CAROL, SUBSCRIPTION, record(json!("did:")));
    let (_, no_created_at) = forum.create(CAROL, SUBSCRIPTION, json!({"subject": GARDENING}));
    let outcome = app.ingest(&[handle_event, at_handle_event, unknown, no_subject, bad_did, no_created_at]).await;
    let reasons: Vec<_> = outcome.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(reasons, ["unresolved_subject", "invalid_record", "invalid_record", "invalid_record"], "{outcome:?}");
    assert!(outcome.skipped[0].detail.contains("c-nowhere.coves.test"), "{outcome:?}");
    let rows = subscriptions(&app).await;
    assert_eq!(
        rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect::<Vec<_>>(),
        [(ALICE, GARDENING), (BOB, GARDENING)]
    );
    assert_eq!(rows[0].2, by_handle.rkey);
    assert_eq!(stored_counts(&app).await, [(GARDENING.to_owned(), 2)]);
}

/// A viewer known to the fake PLC directory and as a readable actor, with a valid token.
async fn viewer(app: &TestApp, handle: &str) -> (TestIdentity, String) {
    let key = TestKey::k256();
    let identity = app.network.add_plc_identity(handle, &key.multikey());
    known_actor(app, identity.did.as_str(), handle).await;
    let token = mint(&key, identity.did.as_str(), AUDIENCE, now() + 60, None);
    (identity, token)
}

const VIEWER_STATE: &str = "query($id: String!) { community(id: $id) { subscriberCount \
    viewerSubscription { uri rkey contentVisibility createdAt community { did } } } }";

const SUBSCRIPTIONS: &str = "query($id: String!, $after: String) { actor(id: $id) { \
    subscriptions(first: 2, after: $after) { totalCount nodes { rkey contentVisibility community { name } } \
    pageInfo { hasNextPage endCursor } } } }";

#[tokio::test]
async fn graphql_shows_subscriptions_to_the_subscriber_only() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    let (alice, alice_token) = viewer(&app, "alice.test").await;
    let (_, bob_token) = viewer(&app, "bob.test").await;
    let alice_did = alice.did.as_str();
    for (did, name) in [(GARDENING, "gardening"), (COOKING, "cooking"), (HIKING, "hiking")] {
        readable_community(&app, did, name).await;
    }
    let (gardening, event) = forum.subscribe(alice_did, GARDENING, Some(json!(4)));
    app.ingest(&[event]).await;
    let (cooking, event) = forum.subscribe(alice_did, COOKING, None);
    app.ingest(&[event]).await;
    let (hiking, event) = forum.subscribe(alice_did, HIKING, Some(json!(1)));
    app.ingest(&[event]).await;

    let state = app.graphql_as(&alice_token, VIEWER_STATE, json!({"id": GARDENING})).await;
    let subscription = &state["data"]["community"]["viewerSubscription"];
    assert_eq!(subscription["uri"], gardening.uri);
    assert_eq!(subscription["rkey"], gardening.rkey);
    assert_eq!(subscription["contentVisibility"], 4);
    assert_eq!(subscription["community"]["did"], GARDENING);
    assert!(subscription["createdAt"].as_str().is_some_and(|t| t.starts_with("2026-01-01T00:00:00")), "{state}");
    assert_eq!(state["data"]["community"]["subscriberCount"], 1);
    for other in [
        app.graphql(VIEWER_STATE, json!({"id": GARDENING})).await,
        app.graphql_as(&bob_token, VIEWER_STATE, json!({"id": GARDENING})).await,
    ] {
        assert_eq!(other["data"]["community"]["viewerSubscription"], Value::Null, "{other}");
    }

    // Alice's own list, newest first, two per page.
    let first = app.graphql_as(&alice_token, SUBSCRIPTIONS, json!({"id": alice_did})).await;
    let page = &first["data"]["actor"]["subscriptions"];
    assert_eq!(page["totalCount"], 3, "{first}");
    assert_eq!(
        page["nodes"],
        json!([{"rkey": hiking.rkey, "contentVisibility": 1, "community": {"name": "hiking"}},
               {"rkey": cooking.rkey, "contentVisibility": 3, "community": {"name": "cooking"}}])
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let after = page["pageInfo"]["endCursor"].clone();
    let second = app.graphql_as(&alice_token, SUBSCRIPTIONS, json!({"id": alice_did, "after": after})).await;
    let page = &second["data"]["actor"]["subscriptions"];
    assert_eq!(
        page["nodes"],
        json!([{"rkey": gardening.rkey, "contentVisibility": 4, "community": {"name": "gardening"}}])
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], false);

    // Anyone else, signed in or not, is refused.
    for refused in [
        app.graphql_as(&bob_token, SUBSCRIPTIONS, json!({"id": alice_did})).await,
        app.graphql(SUBSCRIPTIONS, json!({"id": alice_did})).await,
    ] {
        assert_eq!(refused["errors"][0]["extensions"]["code"], "Forbidden", "{refused}");
        let message = format!("only {alice_did} can list their subscriptions: sign in as that account");
        assert_eq!(refused["errors"][0]["message"], message.as_str(), "{refused}");
        assert_eq!(refused["data"]["actor"], Value::Null, "{refused}");
    }
}

/// `POST /xrpc/<nsid>` with an optional token.
async fn procedure(app: &TestApp, nsid: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.http.post(format!("{}/xrpc/{nsid}", app.base)).json(&body);
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    let response = request.send().await.expect("request");
    (response.status().as_u16(), response.json().await.expect("JSON"))
}

#[tokio::test]
async fn subscribe_and_unsubscribe_answer_write_directly_with_the_resolved_community() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    readable_community(&app, GARDENING, "gardening").await;
    let (alice, token) = viewer(&app, "alice.test").await;
    let alice_did = alice.did.as_str();

    for community in [GARDENING, "c-gardening.coves.test", "@c-gardening.coves.test", "!gardening@coves.test"] {
        let (status, body) = procedure(
            &app,
            "social.coves.community.subscribe",
            None,
            json!({"community": community, "contentVisibility": 9}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "WriteDirectlyToPDS");
        assert_eq!(body["collection"], SUBSCRIPTION);
        assert_eq!(body["pdsMethod"], "com.atproto.repo.createRecord");
        assert_eq!(body["record"]["subject"], GARDENING, "{community}: {body}");
        assert_eq!(body["record"]["contentVisibility"], 5, "clamped");
        assert!(body.get("repo").is_none(), "anonymous: {body}");
    }
    let (status, body) = procedure(&app, "social.coves.community.subscribe", None, json!({})).await;
    assert_eq!((status, &body["record"]["subject"]), (400, &json!("<community DID>")), "a template without community");

    let (status, body) =
        procedure(&app, "social.coves.community.subscribe", None, json!({"community": "c-nowhere.coves.test"})).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("CommunityNotFound")), "{body}");
    for malformed in ["not an identifier", "!gardening", "did:", "!gardening@elsewhere.example"] {
        let (status, body) =
            procedure(&app, "social.coves.community.unsubscribe", Some(&token), json!({"community": malformed})).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("InvalidRequest")), "{malformed}: {body}");
    }

    // Unsubscribe names the viewer's indexed subscription.
    let (_, body) =
        procedure(&app, "social.coves.community.unsubscribe", Some(&token), json!({"community": GARDENING})).await;
    assert_eq!(body["error"], "WriteDirectlyToPDS");
    assert!(body.get("rkey").is_none(), "nothing indexed yet: {body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("viewer.subscriptionUri")), "{body}");

    let (subscription, event) = forum.subscribe(alice_did, GARDENING, None);
    app.ingest(&[event]).await;
    let (status, body) = procedure(
        &app,
        "social.coves.community.unsubscribe",
        Some(&token),
        json!({"community": "!gardening@coves.test"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["pdsMethod"], "com.atproto.repo.deleteRecord");
    assert_eq!(body["repo"], alice_did);
    assert_eq!(body["rkey"], subscription.rkey, "{body}");
    assert_eq!(body["subject"], GARDENING);

    let (_, body) =
        procedure(&app, "social.coves.community.subscribe", Some(&token), json!({"community": GARDENING})).await;
    assert_eq!(body["existingSubscription"], json!({"uri": subscription.uri, "rkey": subscription.rkey}), "{body}");
    assert_eq!(body["repo"], alice_did);
    assert!(body["record"].get("contentVisibility").is_none(), "not given, not invented: {body}");
}

/// Subscriptions of unknown shape still parse and store their original record.
#[tokio::test]
async fn the_record_is_kept_with_unknown_keys_and_ended_at() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    let record = json!({"$type": SUBSCRIPTION, "subject": GARDENING, "createdAt": "2026-01-01T00:00:00Z",
        "endedAt": "2026-02-01T00:00:00Z", "custom": {"kept": true}});
    let (created, event) = forum.create(ALICE, SUBSCRIPTION, record.clone());
    app.ingest(&[event]).await;
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
        record: Option<Value>,
        #[diesel(sql_type = Nullable<Text>)]
        cid: Option<String>,
    }
    let mut conn = app.db.connect().await;
    let stored: Stored = diesel::sql_query("SELECT record, cid FROM community_subscription_records WHERE rkey = $1")
        .bind::<Text, _>(&created.rkey)
        .get_result(&mut conn)
        .await
        .expect("stored");
    assert_eq!((stored.record, stored.cid), (Some(record), Some(created.cid)));
}

#[derive(diesel::QueryableByName)]
struct PerCommunity {
    #[diesel(sql_type = Text)]
    did: String,
    #[diesel(sql_type = BigInt)]
    subscribers: i64,
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = BigInt)]
    blocks: i64,
}

/// A generated stream served by the local Jetstream and read by the real client and
/// pipeline: subscriber counts (stored, and rows) and blocks equal the generator's
/// expectation, and a second pass over the same stream changes nothing.
#[tokio::test]
async fn a_generated_stream_gives_the_generators_subscriber_counts_and_blocks() {
    use coves_appview::generate::Options;
    use coves_appview::replay::ReplayServer;
    use coves_tests::ingest::{client_config, generate_file, last_wanted_time_us};

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    let summary =
        generate_file(&file, &Options { events: 4_000, seed: 11, communities: 5, users: 60, ..Options::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = ReplayServer::start(listener, file.clone(), None).await.expect("replay server");
    let expected: Vec<(String, i64, i64, i64)> = summary
        .communities
        .iter()
        .map(|(did, c)| (did.clone(), c.subscriber_count as i64, c.subscriber_count as i64, c.blocked_by as i64))
        .collect();
    assert!(expected.iter().any(|e| e.1 > 0) && expected.iter().any(|e| e.3 > 0), "the stream has both: {expected:?}");

    let app = TestApp::start().await;
    let mut passes = Vec::new();
    for _ in 0..2 {
        let ingest = app.start_ingest(client_config(&server.url(), true), 300);
        app.wait_for_cursor(last_wanted_time_us(&file), std::time::Duration::from_secs(60)).await;
        ingest.stop().await;
        let mut conn = app.db.connect().await;
        let rows: Vec<PerCommunity> = diesel::sql_query(
            "SELECT c.did, c.subscriber_count AS subscribers, \
               (SELECT count(*) FROM community_subscriptions s WHERE s.community_did = c.did) AS rows, \
               (SELECT count(*) FROM community_blocks b WHERE b.community_did = c.did) AS blocks \
             FROM communities c ORDER BY c.did",
        )
        .load(&mut conn)
        .await
        .expect("per community");
        passes.push(rows.into_iter().map(|r| (r.did, r.subscribers, r.rows, r.blocks)).collect::<Vec<_>>());
        // The second pass starts over from the beginning of the stream: a full replay.
        diesel::sql_query("DELETE FROM ingest_cursor").execute(&mut conn).await.expect("cursor reset");
    }
    assert_eq!(passes[0], expected);
    assert_eq!(passes[1], expected, "a full replay changes nothing");
    server.stop().await;
}
