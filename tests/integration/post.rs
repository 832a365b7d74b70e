//! The post plugin's ingest: posts stored in any order, soft deletes and tombstones,
//! updates that keep what must not change, authors becoming known actors, and exact
//! community post counts whatever arrives first.

use std::time::Duration;

use coves_tests::TestApp;
use coves_tests::events::{create, delete, update};
use coves_tests::network::random_signing_key;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

const POST: &str = "social.coves.community.post";
const PROFILE: &str = "social.coves.community.profile";
const COMMUNITY: &str = "did:plc:community222222222222222";
const ALICE: &str = "did:plc:alice22222222222222222222";
const BOB: &str = "did:plc:bob2222222222222222222222";

fn post(community: &str, author: &str, title: &str) -> Value {
    json!({"$type": POST, "community": community, "author": author, "title": title,
           "content": "Hello there.", "createdAt": "2026-01-02T03:04:05Z"})
}

fn profile(name: &str) -> Value {
    json!({"$type": PROFILE, "name": name, "createdBy": ALICE, "hostedBy": "did:web:coves.test",
           "createdAt": "2026-01-01T00:00:00Z"})
}

#[derive(Debug, PartialEq, diesel::QueryableByName)]
struct Stored {
    #[diesel(sql_type = Nullable<Text>)]
    title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    author_did: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    edited: bool,
}

async fn stored(app: &TestApp, rkey: &str) -> Option<Stored> {
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query("SELECT title, author_did, deleted, edited_at IS NOT NULL AS edited FROM posts WHERE uri = $1")
        .bind::<Text, _>(format!("at://{COMMUNITY}/{POST}/{rkey}"))
        .get_results(&mut conn)
        .await
        .expect("posts query")
        .pop()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

/// The community's stored `post_count` (`None` while it has no profile).
async fn post_count(app: &TestApp, community: &str) -> Option<i64> {
    let mut conn = app.pool.get().await.expect("connection");
    let rows: Vec<Count> = diesel::sql_query("SELECT post_count AS n FROM communities WHERE did = $1")
        .bind::<Text, _>(community)
        .load(&mut conn)
        .await
        .expect("communities query");
    rows.into_iter().next().and_then(|c| c.n)
}

#[tokio::test]
async fn posts_count_whether_they_arrive_before_or_after_their_community() {
    let app = TestApp::start().await;
    // Two posts before the community exists, one deleted again.
    app.ingest(&[
        create(COMMUNITY, POST, "3la0000000001", "3la0000000001", 1, post(COMMUNITY, ALICE, "first")),
        create(COMMUNITY, POST, "3la0000000002", "3la0000000002", 2, post(COMMUNITY, BOB, "second")),
        create(COMMUNITY, POST, "3la0000000003", "3la0000000003", 3, post(COMMUNITY, BOB, "third")),
        delete(COMMUNITY, POST, "3la0000000003", "3la0000000004", 4),
    ])
    .await;
    assert_eq!(post_count(&app, COMMUNITY).await, None);
    app.ingest(&[create(COMMUNITY, PROFILE, "self", "3la0000000005", 5, profile("gardening"))]).await;
    assert_eq!(post_count(&app, COMMUNITY).await, Some(2), "the community starts from the stored live posts");

    // After it: one more, one deleted, then the whole stream replayed.
    let later = [
        create(COMMUNITY, POST, "3la0000000006", "3la0000000006", 6, post(COMMUNITY, ALICE, "fourth")),
        delete(COMMUNITY, POST, "3la0000000001", "3la0000000007", 7),
    ];
    app.ingest(&later).await;
    assert_eq!(post_count(&app, COMMUNITY).await, Some(2));
    app.ingest(&later).await;
    app.ingest(&[create(COMMUNITY, POST, "3la0000000001", "3la0000000001", 1, post(COMMUNITY, ALICE, "first"))]).await;
    assert_eq!(post_count(&app, COMMUNITY).await, Some(2), "replays change nothing");
}

#[tokio::test]
async fn a_delete_before_its_create_leaves_a_tombstone() {
    let app = TestApp::start().await;
    app.ingest(&[delete(COMMUNITY, POST, "3la0000000001", "3la0000000002", 2)]).await;
    app.ingest(&[create(COMMUNITY, POST, "3la0000000001", "3la0000000001", 1, post(COMMUNITY, ALICE, "late"))]).await;
    let row = stored(&app, "3la0000000001").await.expect("a tombstone");
    assert!(row.deleted && row.title.is_none(), "{row:?}");
}

#[tokio::test]
async fn updates_keep_author_and_creation_and_mark_the_edit() {
    let app = TestApp::start().await;
    let first = create(COMMUNITY, POST, "3la0000000001", "3la0000000001", 1, post(COMMUNITY, ALICE, "draft"));
    app.ingest(std::slice::from_ref(&first)).await;
    assert_eq!(
        stored(&app, "3la0000000001").await,
        Some(Stored { title: Some("draft".into()), author_did: Some(ALICE.into()), deleted: false, edited: false })
    );
    // Another author in an update is refused; a proper update applies and marks the edit.
    let outcome = app
        .ingest(&[update(COMMUNITY, POST, "3la0000000001", "3la0000000002", 2, post(COMMUNITY, BOB, "hijack"))])
        .await;
    let reasons: Vec<_> = outcome.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(reasons, ["author_changed"], "{outcome:?}");
    assert_eq!(stored(&app, "3la0000000001").await.and_then(|s| s.title), Some("draft".into()));
    app.ingest(&[update(COMMUNITY, POST, "3la0000000001", "3la0000000003", 3, post(COMMUNITY, ALICE, "final"))]).await;
    app.ingest(&[first]).await;
    assert_eq!(
        stored(&app, "3la0000000001").await,
        Some(Stored { title: Some("final".into()), author_did: Some(ALICE.into()), deleted: false, edited: true })
    );
}

#[tokio::test]
async fn posts_outside_their_community_repo_are_skipped_and_authors_become_actors() {
    let app = TestApp::start().await;
    let outcome = app
        .ingest(&[
            create(
                COMMUNITY,
                POST,
                "3la0000000001",
                "3la0000000001",
                1,
                post("did:plc:elsewhere2222222222222222", ALICE, "x"),
            ),
            create(COMMUNITY, POST, "3la0000000002", "3la0000000002", 2, json!({"community": COMMUNITY})),
            create(COMMUNITY, POST, "3la0000000003", "3la0000000003", 3, post(COMMUNITY, ALICE, "ok")),
        ])
        .await;
    let reasons: Vec<_> = outcome.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(reasons, ["community_mismatch", "invalid_record"]);
    assert!(outcome.skipped[0].detail.contains("lives in"), "{:?}", outcome.skipped[0]);
    assert!(stored(&app, "3la0000000003").await.is_some());

    let mut conn = app.pool.get().await.expect("connection");
    let known: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM actors WHERE did = $1")
        .bind::<Text, _>(ALICE)
        .load(&mut conn)
        .await
        .expect("actors query");
    assert_eq!(known[0].n, Some(1), "the author is a known actor, due for an identity check");
}

#[tokio::test]
async fn community_views_show_the_post_count() {
    let app = TestApp::start().await;
    app.network.add_web_identity("coves.test", &random_signing_key());
    let community = app.network.add_plc_identity("c-gardening.coves.test", &random_signing_key());
    let did = community.did.as_str();
    app.ingest(&[
        create(did, POST, "3la0000000001", "3la0000000001", 1, post(did, ALICE, "one")),
        create(did, PROFILE, "self", "3la0000000002", 2, profile("gardening")),
        create(did, POST, "3la0000000003", "3la0000000003", 3, post(did, BOB, "two")),
    ])
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let view = app.get("/xrpc/social.coves.community.get?community=!gardening@coves.test").await;
        if view.status == 200 {
            assert_eq!(view.body["postCount"], 2, "{}", view.body);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the community was never verified: {}", view.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
