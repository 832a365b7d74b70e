//! The comment plugin's ingest: comments stored in any order, exact reply and thread
//! counts whatever arrives first (replies before their parents, comments before their
//! post), soft deletes that keep the thread shape, revivals, and updates that cannot move
//! a comment.

use std::collections::BTreeMap;

use coves_appview::ingest::Event;
use coves_tests::TestApp;
use coves_tests::events::{create, delete, update};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

const COMMENT: &str = "social.coves.community.comment";
const POST_A: &str = "at://did:plc:community000000000000000/social.coves.community.post/3kpost0000001";
const POST_B: &str = "at://did:plc:community000000000000000/social.coves.community.post/3kpost0000002";
const ALICE: &str = "did:plc:alice22222222222222222222";
const BOB: &str = "did:plc:bob2222222222222222222222";

fn comment(root: &str, parent: &str, content: &str) -> Value {
    json!({"$type": COMMENT, "reply": {"root": {"uri": root, "cid": "bafyreiroot"}, "parent": {"uri": parent, "cid": "bafyreiparent"}},
           "content": content, "createdAt": "2026-01-02T03:04:05Z"})
}

fn uri(did: &str, rkey: &str) -> String {
    format!("at://{did}/{COMMENT}/{rkey}")
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = Text)]
    subject_uri: String,
    #[diesel(sql_type = BigInt)]
    replies: i64,
    #[diesel(sql_type = BigInt)]
    thread: i64,
}

/// A full recount from the comment rows: what the incremental counters must equal.
async fn recounted(app: &TestApp) -> BTreeMap<String, (i64, i64)> {
    let mut conn = app.db.connect().await;
    let rows: Vec<Counts> = diesel::sql_query(
        "SELECT subject_uri, sum(r)::bigint AS replies, sum(t)::bigint AS thread FROM ( \
           SELECT parent_uri AS subject_uri, 1 AS r, 0 AS t FROM comments WHERE NOT deleted \
           UNION ALL SELECT root_uri, 0, 1 FROM comments WHERE NOT deleted) s \
         GROUP BY subject_uri",
    )
    .load(&mut conn)
    .await
    .expect("recount");
    rows.into_iter().map(|c| (c.subject_uri, (c.replies, c.thread))).collect()
}

fn counts(list: &[(&str, i64, i64)]) -> BTreeMap<String, (i64, i64)> {
    list.iter().map(|(s, r, t)| ((*s).to_owned(), (*r, *t))).collect()
}

/// What the tests read of a comment row.
#[derive(Debug, PartialEq, diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = Bool)]
    deleted: bool,
    #[diesel(sql_type = Nullable<Text>)]
    parent_uri: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    root_uri: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
    #[diesel(sql_type = Bool)]
    has_record: bool,
    #[diesel(sql_type = Nullable<Text>)]
    cid: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    deletion_reason: Option<String>,
    #[diesel(sql_type = Bool)]
    edited: bool,
}

async fn row(app: &TestApp, uri: &str) -> Option<Row> {
    let mut conn = app.db.connect().await;
    diesel::sql_query(
        "SELECT deleted, parent_uri, root_uri, content, record IS NOT NULL AS has_record, cid, deletion_reason, \
           edited_at IS NOT NULL AS edited FROM comments WHERE uri = $1",
    )
    .bind::<Text, _>(uri)
    .get_results(&mut conn)
    .await
    .expect("comments query")
    .pop()
}

fn live(parent: &str, root: &str, content: &str, cid: &str, edited: bool) -> Option<Row> {
    Some(Row {
        deleted: false,
        parent_uri: Some(parent.into()),
        root_uri: Some(root.into()),
        content: Some(content.into()),
        has_record: true,
        cid: Some(cid.into()),
        deletion_reason: None,
        edited,
    })
}

#[tokio::test]
async fn replies_count_before_their_parent_and_comments_before_their_post() {
    let app = TestApp::start().await;
    let top = uri(ALICE, "3kc0000000001");
    // Bob's reply arrives before Alice's comment, and neither post exists.
    let reply = create(BOB, COMMENT, "3kc0000000002", "3kr0000000002", 2, comment(POST_A, &top, "Agreed."));
    let outcome = app.ingest(std::slice::from_ref(&reply)).await;
    assert_eq!(outcome.changed_subjects, [top.clone(), POST_A.to_owned()]);
    assert_eq!(app.comment_counts().await, counts(&[(POST_A, 0, 1), (&top, 1, 0)]), "the reply counts at once");

    let first = create(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "First!"));
    app.ingest(std::slice::from_ref(&first)).await;
    let expected = counts(&[(POST_A, 1, 2), (&top, 1, 0)]);
    assert_eq!(app.comment_counts().await, expected);

    let outcome = app.ingest(&[first, reply.clone()]).await;
    assert!(outcome.changed_subjects.is_empty(), "{outcome:?}");
    app.ingest(&[reply]).await;
    assert_eq!(app.comment_counts().await, expected, "replays never double count");
    assert_eq!(recounted(&app).await, expected);

    let mut conn = app.db.connect().await;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let actors: Vec<N> = diesel::sql_query("SELECT count(*) AS n FROM actors WHERE did IN ($1, $2)")
        .bind::<Text, _>(ALICE)
        .bind::<Text, _>(BOB)
        .load(&mut conn)
        .await
        .expect("actors");
    assert_eq!(actors[0].n, 2, "commenters become known actors");
}

#[tokio::test]
async fn a_delete_before_its_create_leaves_no_trace() {
    let app = TestApp::start().await;
    let me = uri(ALICE, "3kc0000000001");
    app.ingest(&[delete(ALICE, COMMENT, "3kc0000000001", "3kr0000000002", 2)]).await;
    let outcome = app
        .ingest(&[create(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "late"))])
        .await;
    assert!(outcome.changed_subjects.is_empty() && outcome.skipped.is_empty(), "{outcome:?}");
    assert_eq!(app.comment_counts().await, counts(&[]));
    let tombstone = row(&app, &me).await.expect("a tombstone");
    assert!(tombstone.deleted && tombstone.parent_uri.is_none() && tombstone.cid.is_none(), "{tombstone:?}");
}

#[tokio::test]
async fn deletes_decrement_once_and_leave_a_placeholder_in_the_thread() {
    let app = TestApp::start().await;
    let top = uri(ALICE, "3kc0000000001");
    app.ingest(&[
        create(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "First!")),
        create(BOB, COMMENT, "3kc0000000002", "3kr0000000002", 2, comment(POST_A, &top, "Agreed.")),
    ])
    .await;
    let removal = delete(ALICE, COMMENT, "3kc0000000001", "3kr0000000003", 3);
    let outcome = app.ingest(std::slice::from_ref(&removal)).await;
    assert_eq!(outcome.changed_subjects, [POST_A.to_owned()]);
    // The reply stays live under the deleted comment.
    let expected = counts(&[(POST_A, 0, 1), (&top, 1, 0)]);
    assert_eq!(app.comment_counts().await, expected);
    app.ingest(&[removal]).await;
    app.ingest(&[delete(ALICE, COMMENT, "3kc0000000001", "3kr0000000004", 4)]).await;
    assert_eq!(app.comment_counts().await, expected, "a comment is deleted once");
    assert_eq!(recounted(&app).await, expected);

    assert_eq!(
        row(&app, &top).await,
        Some(Row {
            deleted: true,
            parent_uri: Some(POST_A.into()),
            root_uri: Some(POST_A.into()),
            content: None,
            has_record: false,
            cid: Some("bafyreitest3kr0000000001".into()),
            deletion_reason: Some("author".into()),
            edited: false,
        }),
        "the placeholder keeps its place in the thread, not its content"
    );
}

#[tokio::test]
async fn a_comment_created_and_deleted_in_one_batch_keeps_its_place() {
    let app = TestApp::start().await;
    let me = uri(ALICE, "3kc0000000001");
    let outcome = app
        .ingest(&[
            delete(ALICE, COMMENT, "3kc0000000001", "3kr0000000002", 2),
            create(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "oops")),
        ])
        .await;
    assert!(outcome.changed_subjects.is_empty(), "{outcome:?}");
    let placeholder = row(&app, &me).await.expect("a row");
    assert!(placeholder.deleted && placeholder.parent_uri.as_deref() == Some(POST_A), "{placeholder:?}");
    assert_eq!(app.comment_counts().await, counts(&[]));
}

#[tokio::test]
async fn a_revived_comment_counts_again_under_its_new_parent() {
    let app = TestApp::start().await;
    let me = uri(ALICE, "3kc0000000001");
    app.ingest(&[create(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "on A"))]).await;
    app.ingest(&[delete(ALICE, COMMENT, "3kc0000000001", "3kr0000000002", 2)]).await;
    assert_eq!(app.comment_counts().await, counts(&[]));

    let revive = create(ALICE, COMMENT, "3kc0000000001", "3kr0000000003", 3, comment(POST_B, POST_B, "on B"));
    let outcome = app.ingest(std::slice::from_ref(&revive)).await;
    assert_eq!(outcome.changed_subjects, [POST_B.to_owned()]);
    assert_eq!(app.comment_counts().await, counts(&[(POST_B, 1, 1)]));
    assert_eq!(row(&app, &me).await, live(POST_B, POST_B, "on B", "bafyreitest3kr0000000003", false));

    // The old create and delete, replayed, change nothing.
    app.ingest(&[
        create(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "on A")),
        delete(ALICE, COMMENT, "3kc0000000001", "3kr0000000002", 2),
        revive,
    ])
    .await;
    assert_eq!(app.comment_counts().await, counts(&[(POST_B, 1, 1)]));

    // Deleted and re-created in one batch: the counts move from the old parent to the new.
    let top = uri(BOB, "3kc0000000009");
    app.ingest(&[
        delete(ALICE, COMMENT, "3kc0000000001", "3kr0000000004", 4),
        create(ALICE, COMMENT, "3kc0000000001", "3kr0000000005", 5, comment(POST_B, &top, "moved")),
    ])
    .await;
    assert_eq!(app.comment_counts().await, counts(&[(POST_B, 0, 1), (&top, 1, 0)]));
    assert_eq!(recounted(&app).await, app.comment_counts().await);
}

#[tokio::test]
async fn updates_change_the_content_but_never_the_thread() {
    let app = TestApp::start().await;
    let me = uri(ALICE, "3kc0000000001");
    app.ingest(&[create(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "draft"))]).await;
    let edit = update(ALICE, COMMENT, "3kc0000000001", "3kr0000000002", 2, comment(POST_A, POST_A, "final"));
    let outcome = app.ingest(std::slice::from_ref(&edit)).await;
    assert!(outcome.changed_subjects.is_empty(), "updates never move counters: {outcome:?}");
    assert_eq!(row(&app, &me).await, live(POST_A, POST_A, "final", "bafyreitest3kr0000000002", true));

    // Moving the comment to another post or parent is refused, and nothing changes.
    let to_a_reply = comment(POST_A, &uri(BOB, "3kc0000000002"), "x");
    let outcome = app
        .ingest(&[
            update(ALICE, COMMENT, "3kc0000000001", "3kr0000000003", 3, comment(POST_B, POST_B, "hijack")),
            update(ALICE, COMMENT, "3kc0000000001", "3kr0000000004", 4, to_a_reply),
        ])
        .await;
    let reasons: Vec<_> = outcome.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(reasons, ["reply_changed", "reply_changed"], "{outcome:?}");
    assert_eq!(row(&app, &me).await, live(POST_A, POST_A, "final", "bafyreitest3kr0000000002", true));
    assert_eq!(app.comment_counts().await, counts(&[(POST_A, 1, 1)]));

    // An older update, replayed, changes nothing.
    app.ingest(&[update(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "stale"))]).await;
    assert_eq!(row(&app, &me).await.and_then(|r| r.content), Some("final".to_owned()));
}

#[tokio::test]
async fn bad_comments_are_skipped_with_reasons() {
    let app = TestApp::start().await;
    let by_handle = comment(POST_A, "at://bob.test/x.y.z/3k", "hi");
    let mut no_created_at = comment(POST_A, POST_A, "hi");
    no_created_at.as_object_mut().expect("object").remove("createdAt");
    let outcome = app
        .ingest(&[
            create(ALICE, COMMENT, "3kc0000000001", "3kr0000000001", 1, comment(POST_A, POST_A, "")),
            create(ALICE, COMMENT, "3kc0000000002", "3kr0000000002", 2, comment(POST_A, POST_A, &"x".repeat(30_001))),
            create(ALICE, COMMENT, "3kc0000000003", "3kr0000000003", 3, by_handle),
            create(ALICE, COMMENT, "3kc0000000004", "3kr0000000004", 4, json!({"content": "hi"})),
            create(ALICE, COMMENT, "3kc0000000005", "3kr0000000005", 5, no_created_at),
            create(ALICE, COMMENT, "3kc0000000006", "3kr0000000006", 6, comment(POST_A, POST_A, &"x".repeat(30_000))),
        ])
        .await;
    let skipped: Vec<_> = outcome.skipped.iter().map(|s| (s.reason, s.detail.as_str())).collect();
    assert_eq!(
        skipped,
        [
            ("invalid_record", "`content` is empty"),
            ("invalid_record", "`content` is 30001 bytes, over the 30000-byte limit"),
            ("invalid_record", "`reply.parent.uri` \"at://bob.test/x.y.z/3k\" must name its repo by DID"),
            ("invalid_record", "`reply` is required"),
            ("invalid_record", "`createdAt` is required"),
        ]
    );
    assert_eq!(app.comment_counts().await, counts(&[(POST_A, 1, 1)]));
}

/// A tiny deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next(items.len() as u64) as usize]
    }
}

#[tokio::test]
async fn counts_equal_a_recount_and_the_model_under_any_order_batching_and_replays() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let posts = [POST_A, POST_B];
    // Every comment ever created: (URI, root); parents are chosen among them and the posts.
    let mut known: Vec<(String, &str)> = Vec::new();
    // Per comment URI, its state after the last commit: Some((root, parent)) while live.
    let mut model: BTreeMap<String, Option<(String, String)>> = BTreeMap::new();
    let mut events = Vec::new();
    for c in 0..5u32 {
        let did = format!("did:plc:commenter{c:018}");
        let mut live: Vec<String> = Vec::new();
        let mut deleted: Vec<String> = Vec::new();
        for step in 1..=20u32 {
            let rev = format!("3kr{step:010}");
            let time_us = i64::from(c * 100 + step);
            let choice = rng.next(10);
            if choice < 2 && !live.is_empty() {
                // Delete a live comment.
                let rkey = live.remove(rng.next(live.len() as u64) as usize);
                events.push(delete(&did, COMMENT, &rkey, &rev, time_us));
                model.insert(uri(&did, &rkey), None);
                deleted.push(rkey);
            } else if choice < 4 && !live.is_empty() {
                // Edit a live comment (same thread position).
                let rkey = rng.pick(&live).clone();
                let (root, parent) = model[&uri(&did, &rkey)].clone().expect("live");
                let record = comment(&root, &parent, &format!("edit {rev}"));
                events.push(update(&did, COMMENT, &rkey, &rev, time_us, record));
            } else {
                // A new comment, or a deleted one revived, under a random parent.
                let rkey = if choice < 6 && !deleted.is_empty() {
                    deleted.remove(rng.next(deleted.len() as u64) as usize)
                } else {
                    format!("3kc{:010}", c * 100 + step)
                };
                let root = *rng.pick(&posts);
                let thread: Vec<&str> = known.iter().filter(|(_, r)| *r == root).map(|(u, _)| u.as_str()).collect();
                let parent =
                    if thread.is_empty() || rng.next(3) == 0 { root.to_owned() } else { rng.pick(&thread).to_string() };
                let record = comment(root, &parent, &format!("text {rev}"));
                events.push(create(&did, COMMENT, &rkey, &rev, time_us, record));
                let me = uri(&did, &rkey);
                model.insert(me.clone(), Some((root.to_owned(), parent)));
                known.push((me, root));
                live.push(rkey);
            }
        }
    }
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (root, parent) in model.values().flatten() {
        expected.entry(parent.clone()).or_default().0 += 1;
        expected.entry(root.clone()).or_default().1 += 1;
    }
    let live_parents: BTreeMap<String, String> =
        model.iter().filter_map(|(u, s)| s.as_ref().map(|(_, parent)| (u.clone(), parent.clone()))).collect();

    // In order, in one batch; then shuffled in random batches with replays, on fresh databases.
    for round in 0..5 {
        let app = TestApp::start().await;
        let mut order: Vec<Event> = events.clone();
        if round > 0 {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.next(i as u64 + 1) as usize);
            }
        }
        let mut start = 0;
        while start < order.len() {
            let size = if round == 0 { order.len() } else { 1 + rng.next(12) as usize };
            let end = (start + size).min(order.len());
            app.ingest(&order[start..end]).await;
            if rng.next(3) == 0 {
                let from = rng.next(end as u64) as usize;
                app.ingest(&order[from..end]).await; // a replay
            }
            start = end;
        }
        assert_eq!(app.comment_counts().await, expected, "round {round}: counters equal the model");
        assert_eq!(recounted(&app).await, expected, "round {round}: a recount from rows agrees");
        let mut conn = app.db.connect().await;
        #[derive(diesel::QueryableByName)]
        struct Live {
            #[diesel(sql_type = Text)]
            uri: String,
            #[diesel(sql_type = Text)]
            parent_uri: String,
        }
        let rows: Vec<Live> = diesel::sql_query("SELECT uri, parent_uri FROM comments WHERE NOT deleted")
            .load(&mut conn)
            .await
            .expect("live comments");
        let rows: BTreeMap<String, String> = rows.into_iter().map(|r| (r.uri, r.parent_uri)).collect();
        assert_eq!(rows, live_parents, "round {round}: the live comments and their parents");
    }
}
