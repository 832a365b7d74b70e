//! Community blocks (COVES_API §2.3): blocked while any live block record names the
//! community, whatever the order of arrival; the GraphQL viewer state and list; the
//! `blockCommunity`/`unblockCommunity` write procedures.

use coves_tests::TestApp;
use coves_tests::auth::{TestKey, bearer, mint, now};
use coves_tests::forum::{BLOCK, Forum, known_actor, readable_community};
use coves_tests::network::TestIdentity;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

/// The audience `TestApp` configures as INSTANCE_DID.
const AUDIENCE: &str = "did:web:appview.test";
const GARDENING: &str = "did:plc:gardening00000000000000";
const COOKING: &str = "did:plc:cooking000000000000000000";
const HIKING: &str = "did:plc:hiking0000000000000000000";
const ALICE: &str = "did:plc:alice000000000000000000000";
const BOB: &str = "did:plc:bob00000000000000000000000";

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
struct Row {
    #[diesel(sql_type = Text)]
    actor_did: String,
    #[diesel(sql_type = Text)]
    community_did: String,
    #[diesel(sql_type = Text)]
    rkey: String,
}

/// The relation rows: (actor, community, rkey).
async fn blocks(app: &TestApp) -> Vec<(String, String, String)> {
    let mut conn = app.db.connect().await;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT actor_did, community_did, rkey FROM community_blocks ORDER BY actor_did, community_did",
    )
    .load(&mut conn)
    .await
    .expect("blocks");
    rows.into_iter().map(|r| (r.actor_did, r.community_did, r.rkey)).collect()
}

fn row(actor: &str, community: &str, rkey: &str) -> (String, String, String) {
    (actor.to_owned(), community.to_owned(), rkey.to_owned())
}

#[tokio::test]
async fn blocked_while_any_live_record_exists_whatever_the_order() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    let (older, older_create) = forum.block(ALICE, GARDENING);
    let (newer, newer_create) = forum.block(ALICE, GARDENING);
    let outcome = app.ingest(&[newer_create.clone(), older_create.clone()]).await;
    assert!(outcome.skipped.is_empty() && outcome.changed_subjects.is_empty(), "blocks count nowhere: {outcome:?}");
    assert_eq!(blocks(&app).await, [row(ALICE, GARDENING, &newer.rkey)], "the newest record stands for the block");

    app.ingest(&[newer_create, older_create.clone()]).await;
    assert_eq!(blocks(&app).await, [row(ALICE, GARDENING, &newer.rkey)], "a replay changes nothing");

    app.ingest(&[forum.delete(ALICE, BLOCK, &newer)]).await;
    assert_eq!(blocks(&app).await, [row(ALICE, GARDENING, &older.rkey)], "the older record takes over");
    app.ingest(&[forum.delete(ALICE, BLOCK, &older)]).await;
    assert_eq!(blocks(&app).await, []);
    app.ingest(&[older_create]).await;
    assert_eq!(blocks(&app).await, [], "a replayed create does not revive a deleted block");

    // An unblock that overtakes its block leaves no trace.
    let (bob, bob_create) = forum.block(BOB, COOKING);
    app.ingest(&[forum.delete(BOB, BLOCK, &bob)]).await;
    app.ingest(&[bob_create]).await;
    assert_eq!(blocks(&app).await, []);
}

#[tokio::test]
async fn handle_subjects_are_resolved_and_unknown_ones_skipped() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    readable_community(&app, GARDENING, "gardening").await;
    let record = |subject: &str| json!({"$type": BLOCK, "subject": subject, "createdAt": "2026-01-01T00:00:00Z"});
    let (by_handle, event) = forum.create(ALICE, BLOCK, record("@c-gardening.coves.test"));
    let (_, unknown) = forum.create(BOB, BLOCK, record("c-nowhere.coves.test"));
    let (_, malformed) = forum.create(BOB, BLOCK, record("not a community"));
    let outcome = app.ingest(&[event, unknown, malformed]).await;
    let reasons: Vec<_> = outcome.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(reasons, ["unresolved_subject", "invalid_record"], "{outcome:?}");
    assert_eq!(blocks(&app).await, [row(ALICE, GARDENING, &by_handle.rkey)]);
}

/// A viewer known to the fake PLC directory and as a readable actor, with a valid token.
async fn viewer(app: &TestApp, handle: &str) -> (TestIdentity, String) {
    let key = TestKey::k256();
    let identity = app.network.add_plc_identity(handle, &key.multikey());
    known_actor(app, identity.did.as_str(), handle).await;
    let token = mint(&key, identity.did.as_str(), AUDIENCE, now() + 60, None);
    (identity, token)
}

const VIEWER_STATE: &str =
    "query($id: String!) { community(id: $id) { viewerBlocked viewerBlock { uri rkey createdAt community { did } } } }";

const BLOCKED: &str = "query($id: String!, $after: String) { actor(id: $id) { \
    blockedCommunities(first: 2, after: $after) { totalCount edges { cursor node { rkey community { name } } } \
    pageInfo { hasNextPage endCursor } } } }";

#[tokio::test]
async fn graphql_shows_blocks_to_the_blocker_only() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    let (alice, alice_token) = viewer(&app, "alice.test").await;
    let (_, bob_token) = viewer(&app, "bob.test").await;
    let alice_did = alice.did.as_str();
    let mut made = Vec::new();
    for (did, name) in [(GARDENING, "gardening"), (COOKING, "cooking"), (HIKING, "hiking")] {
        readable_community(&app, did, name).await;
        let (block, event) = forum.block(alice_did, did);
        app.ingest(&[event]).await;
        made.push(block);
    }

    let state = app.graphql_as(&alice_token, VIEWER_STATE, json!({"id": "!gardening@coves.test"})).await;
    let community = &state["data"]["community"];
    assert_eq!(community["viewerBlocked"], true, "{state}");
    assert_eq!(community["viewerBlock"]["uri"], made[0].uri);
    assert_eq!(community["viewerBlock"]["rkey"], made[0].rkey);
    assert_eq!(community["viewerBlock"]["community"]["did"], GARDENING);
    for other in [
        app.graphql(VIEWER_STATE, json!({"id": GARDENING})).await,
        app.graphql_as(&bob_token, VIEWER_STATE, json!({"id": GARDENING})).await,
    ] {
        assert_eq!(other["data"]["community"], json!({"viewerBlocked": false, "viewerBlock": null}), "{other}");
    }

    let first = app.graphql_as(&alice_token, BLOCKED, json!({"id": alice_did})).await;
    let page = &first["data"]["actor"]["blockedCommunities"];
    assert_eq!(page["totalCount"], 3, "{first}");
    let names = |page: &Value| -> Vec<String> {
        page["edges"].as_array().into_iter().flatten().map(|e| e["node"]["community"]["name"].to_string()).collect()
    };
    assert_eq!(names(page), ["\"hiking\"", "\"cooking\""], "newest block first");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let second =
        app.graphql_as(&alice_token, BLOCKED, json!({"id": alice_did, "after": page["pageInfo"]["endCursor"]})).await;
    let page = &second["data"]["actor"]["blockedCommunities"];
    assert_eq!(names(page), ["\"gardening\""]);
    assert_eq!(page["edges"][0]["node"]["rkey"], made[0].rkey);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);

    let bad_cursor = app.graphql_as(&alice_token, BLOCKED, json!({"id": alice_did, "after": "garbage"})).await;
    assert_eq!(bad_cursor["errors"][0]["extensions"]["code"], "InvalidCursor", "{bad_cursor}");
    for refused in [
        app.graphql_as(&bob_token, BLOCKED, json!({"id": alice_did})).await,
        app.graphql(BLOCKED, json!({"id": alice_did})).await,
    ] {
        assert_eq!(refused["errors"][0]["extensions"]["code"], "Forbidden", "{refused}");
        let message = format!("only {alice_did} can list the communities they block: sign in as that account");
        assert_eq!(refused["errors"][0]["message"], message.as_str(), "{refused}");
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
async fn block_and_unblock_answer_write_directly_with_the_resolved_community() {
    let app = TestApp::start().await;
    let forum = Forum::new();
    readable_community(&app, GARDENING, "gardening").await;
    let (alice, token) = viewer(&app, "alice.test").await;
    let alice_did = alice.did.as_str();
    const BLOCK_NSID: &str = "social.coves.community.blockCommunity";
    const UNBLOCK_NSID: &str = "social.coves.community.unblockCommunity";

    for community in [GARDENING, "c-gardening.coves.test", "!gardening@coves.test"] {
        let (status, body) = procedure(&app, BLOCK_NSID, Some(&token), json!({"community": community})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "WriteDirectlyToPDS");
        assert_eq!(body["pdsMethod"], "com.atproto.repo.createRecord");
        assert_eq!(body["collection"], BLOCK);
        assert_eq!(body["repo"], alice_did);
        assert_eq!(body["record"]["subject"], GARDENING, "{community}: {body}");
        assert_eq!(body["record"]["$type"], BLOCK);
    }
    let (status, body) =
        procedure(&app, BLOCK_NSID, None, json!({"community": "did:plc:unknown000000000000000000"})).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("CommunityNotFound")), "{body}");
    let (status, body) = procedure(&app, UNBLOCK_NSID, None, json!({"community": "c-"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("InvalidRequest")), "{body}");
    let (status, body) = procedure(&app, UNBLOCK_NSID, None, json!({"community": 7})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("InvalidRequest")), "{body}");

    // Without an indexed block, the message says where the rkey is.
    let (status, body) = procedure(&app, UNBLOCK_NSID, Some(&token), json!({"community": GARDENING})).await;
    assert_eq!(status, 400);
    assert!(body.get("rkey").is_none(), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("viewer.blockUri")), "{body}");

    let (block, event) = forum.block(alice_did, GARDENING);
    app.ingest(&[event]).await;
    let (status, body) =
        procedure(&app, UNBLOCK_NSID, Some(&token), json!({"community": "@c-gardening.coves.test"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["pdsMethod"], "com.atproto.repo.deleteRecord");
    assert_eq!(body["rkey"], block.rkey, "{body}");
    assert_eq!(body["subject"], GARDENING);
    // Anonymous: the same answer, without what needs the viewer.
    let (status, body) = procedure(&app, UNBLOCK_NSID, None, json!({"community": GARDENING})).await;
    assert_eq!(status, 400);
    assert!(body.get("rkey").is_none() && body.get("repo").is_none(), "{body}");

    let (_, body) = procedure(&app, BLOCK_NSID, Some(&token), json!({"community": GARDENING})).await;
    assert_eq!(body["existingBlock"], json!({"uri": block.uri, "rkey": block.rkey}), "{body}");
}
