//! The actor plugin end to end: events applied in a transaction, read through GraphQL
//! and XRPC.

use coves_tests::TestApp;
use coves_tests::events::{create, delete, update};
use serde_json::{Value, json};

const ALICE: &str = "did:plc:alice0000000000000000000";
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
    let unknown = app.get("/xrpc/social.coves.actor.getProfile?actor=did:plc:nobody00000000000000000").await;
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
