//! The actor plugin end to end: events applied in a transaction, read through GraphQL
//! and XRPC.

use coves_tests::TestApp;
use coves_tests::events::{account, create, delete, identity, update};
use coves_tests::network::{did_document, random_signing_key};
use serde_json::{Value, json};

const ALICE: &str = "did:plc:alice2222222222222222222";
const PROFILE: &str = "social.coves.actor.profile";

fn profile(name: &str) -> Value {
    json!({"$type": PROFILE, "displayName": name, "bio": "gardener", "createdAt": "2026-01-02T03:04:05+01:00"})
}

async fn display_name(app: &TestApp) -> Value {
    let response = app.graphql("query($id: String!) { actor(id: $id) { displayName } }", json!({"id": ALICE})).await;
    response["data"]["actor"]["displayName"].clone()
}

#[tokio::test]
async fn a_profile_is_readable_through_graphql_and_xrpc() {
    let app = TestApp::start().await;
    let outcome = app.ingest(&[create(ALICE, PROFILE, "self", "3la0000000001", 1_000, profile("Alice"))]).await;
    assert_eq!((outcome.applied, outcome.skipped.len()), (1, 0));

    let response = app
        .graphql(
            "query($id: String!) { actor(id: $id) { did handle displayName bio createdAt } }",
            json!({"id": ALICE}),
        )
        .await;
    assert_eq!(
        response,
        json!({"data": {"actor": {
            "did": ALICE, "handle": null, "displayName": "Alice", "bio": "gardener",
            "createdAt": "2026-01-02T02:04:05.000Z"
        }}})
    );

    for method in ["getProfile", "getprofile"] {
        let profile = app.get(&format!("/xrpc/social.coves.actor.{method}?actor={ALICE}")).await;
        assert_eq!(profile.status, 200, "{method}");
        assert_eq!(
            profile.body,
            json!({"did": ALICE, "handle": ALICE, "displayName": "Alice", "bio": "gardener",
                   "description": "gardener", "createdAt": "2026-01-02T02:04:05.000Z"})
        );
    }

    let cursor = {
        let mut conn = app.db.connect().await;
        coves_appview::ingest::load_cursor(&mut conn, "jetstream").await.expect("cursor query")
    };
    assert_eq!(cursor, Some(1_000), "the cursor commits with the batch");
}

#[tokio::test]
async fn replays_and_late_events_change_nothing() {
    let app = TestApp::start().await;
    let first = create(ALICE, PROFILE, "self", "3la0000000001", 1_000, profile("Alice"));
    let second = update(ALICE, PROFILE, "self", "3la0000000002", 2_000, profile("Alice B."));
    app.ingest(&[first.clone(), second.clone()]).await;
    assert_eq!(display_name(&app).await, "Alice B.");

    // A replay of the whole stream, then the older event alone: the newer state stays.
    app.ingest(&[first.clone(), second]).await;
    app.ingest(std::slice::from_ref(&first)).await;
    assert_eq!(display_name(&app).await, "Alice B.");

    // A delete clears the profile; the create replayed after it does not bring it back.
    app.ingest(&[delete(ALICE, PROFILE, "self", "3la0000000003", 3_000)]).await;
    app.ingest(&[first]).await;
    assert_eq!(display_name(&app).await, Value::Null);
    let profile = app.get(&format!("/xrpc/social.coves.actor.getProfile?actor={ALICE}")).await;
    assert_eq!(profile.status, 200, "the actor stays known after its profile is deleted");
    assert!(profile.body.get("displayName").is_none(), "optional keys are omitted: {}", profile.body);
}

#[tokio::test]
async fn bad_records_are_skipped_with_a_reason_and_good_ones_applied() {
    let app = TestApp::start().await;
    let outcome = app
        .ingest(&[
            create(ALICE, PROFILE, "other", "3la0000000001", 1, profile("Wrong rkey")),
            create(ALICE, PROFILE, "self", "3la0000000002", 2, json!({"displayName": 42})),
            create(ALICE, PROFILE, "self", "3la0000000003", 3, profile("Alice")),
        ])
        .await;
    let reasons: Vec<_> = outcome.skipped.iter().map(|s| (s.reason, s.detail.as_str())).collect();
    assert_eq!(
        reasons,
        [
            ("unexpected_rkey", "actor profiles live at rkey `self`"),
            ("invalid_record", "`displayName` must be a string")
        ]
    );
    assert_eq!(display_name(&app).await, "Alice");
}

#[tokio::test]
async fn unknown_and_malformed_actors_get_clear_errors() {
    let app = TestApp::start().await;
    let unknown = app.get("/xrpc/social.coves.actor.getProfile?actor=did:plc:nobody222222222222222222").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error"], "ProfileNotFound");
    assert!(unknown.body["message"].as_str().unwrap_or_default().contains("not found"));

    let malformed = app.get("/xrpc/social.coves.actor.getProfile?actor=not%20an%20id").await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["error"], "InvalidRequest");

    let missing = app.get("/xrpc/social.coves.actor.getProfile").await;
    assert_eq!(missing.body, json!({"error": "InvalidRequest", "message": "actor parameter is required"}));

    let graphql = app.graphql("{ actor(id: \"!!\") { did } }", json!({})).await;
    assert_eq!(graphql["errors"][0]["extensions"]["code"], "InvalidRequest", "{graphql}");
    let none = app.graphql("{ actor(id: \"@nobody.example.com\") { did } }", json!({})).await;
    assert_eq!(none, json!({"data": {"actor": null}}));
}

#[tokio::test]
async fn takedown_hides_the_actor_and_reactivation_restores_it() {
    let app = TestApp::start().await;
    app.ingest(&[create(ALICE, PROFILE, "self", "3la0000000001", 1_000, profile("Alice"))]).await;
    let get_profile = format!("/xrpc/social.coves.actor.getProfile?actor={ALICE}");

    app.ingest(&[account(ALICE, false, Some("takendown"), 2_000)]).await;
    assert_eq!(display_name(&app).await, Value::Null, "a taken-down actor is not readable");
    let hidden = app.get(&get_profile).await;
    assert_eq!((hidden.status, hidden.body["error"].as_str()), (404, Some("ProfileNotFound")));

    // A replayed older "active" event cannot undo the takedown.
    app.ingest(&[account(ALICE, true, None, 1_500)]).await;
    assert_eq!(app.get(&get_profile).await.status, 404);

    app.ingest(&[account(ALICE, true, None, 3_000)]).await;
    assert_eq!(display_name(&app).await, "Alice", "reactivation brings the actor back");
    assert_eq!(app.get(&get_profile).await.status, 200);

    for (status, time_us) in [("deactivated", 4_000), ("deleted", 5_000)] {
        app.ingest(&[account(ALICE, false, Some(status), time_us)]).await;
        assert_eq!(app.get(&get_profile).await.status, 404, "{status}");
    }
}

/// Polls `actor(id:)` until `field` equals `want` (the identity check runs in the background).
async fn eventually_field(app: &TestApp, id: &str, field: &str, want: Value) {
    let query = format!("query($id: String!) {{ actor(id: $id) {{ {field} }} }}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = app.graphql(&query, json!({"id": id})).await;
        let got = response["data"]["actor"][field].clone();
        if got == want {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{field} of {id} stayed {got}, expected {want}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn handles_are_verified_both_ways_and_follow_identity_events() {
    let app = TestApp::start().await;
    let alice = app.network.add_plc_identity("alice.coves.test", &random_signing_key());
    let did = alice.did.as_str();
    let mut record = profile("Alice");
    record["avatar"] = json!({"$type": "blob", "ref": {"$link": "bafkreiavatar"}, "mimeType": "image/png", "size": 9});
    app.ingest(&[create(did, PROFILE, "self", "3la0000000001", 1_000, record)]).await;

    eventually_field(&app, did, "handle", json!("alice.coves.test")).await;
    let by_handle = app.get("/xrpc/social.coves.actor.getProfile?actor=@Alice.Coves.Test").await;
    assert_eq!(by_handle.status, 200, "{}", by_handle.body);
    assert_eq!(by_handle.body["did"], did);
    let avatar =
        format!("{}/xrpc/com.atproto.sync.getBlob?did={}&cid=bafkreiavatar", alice.pds, did.replace(':', "%3A"));
    assert_eq!(by_handle.body["avatar"], avatar.as_str(), "avatar URLs are absolute, on the actor's PDS");

    // The handle moves: the identity event makes the AppView check again.
    app.network.change_handle(&alice, "alice2.coves.test");
    app.ingest(&[identity(did, Some("alice2.coves.test"), 2_000)]).await;
    eventually_field(&app, did, "handle", json!("alice2.coves.test")).await;
    let old = app.get("/xrpc/social.coves.actor.getProfile?actor=alice.coves.test").await;
    assert_eq!(old.status, 404, "the old handle no longer names anyone: {}", old.body);

    // A document that claims a handle which does not point back is not trusted.
    let mallory = app.network.add_plc_identity("mallory.coves.test", &random_signing_key());
    app.network.put_plc_document(
        &mallory.did,
        &did_document(&mallory.did, "alice2.coves.test", &mallory.signing_key, &mallory.pds),
    );
    app.ingest(&[create(mallory.did.as_str(), PROFILE, "self", "3la0000000001", 3_000, profile("Mallory"))]).await;
    eventually_field(&app, mallory.did.as_str(), "displayName", json!("Mallory")).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let (handle, error) = loop {
        let (handle, error) = identity_check(&app, mallory.did.as_str()).await;
        if error.is_some() || tokio::time::Instant::now() > deadline {
            break (handle, error);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(handle, None, "an unverified claim gives no handle");
    assert!(error.is_some_and(|e| e.contains("resolves to")), "the reason is kept");
    eventually_field(&app, did, "handle", json!("alice2.coves.test")).await;
}

/// The stored handle and last identity-check error of an actor.
async fn identity_check(app: &TestApp, did: &str) -> (Option<String>, Option<String>) {
    use coves_plugin_actor::schema::actors;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.connect().await;
    actors::table
        .select((actors::handle, actors::handle_error))
        .filter(actors::did.eq(did))
        .first(&mut conn)
        .await
        .expect("the actor row")
}
