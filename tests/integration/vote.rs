//! Vote counts: exact under every order of arrival, under replays and direction flips.

use std::collections::BTreeMap;

use coves_appview::ingest::Event;
use coves_tests::TestApp;
use coves_tests::events::{create, delete, update};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

const VOTE: &str = "social.coves.feed.vote";
const POST_A: &str = "at://did:plc:community000000000000000/social.coves.community.post/3kpost0000001";
const POST_B: &str = "at://did:plc:community000000000000000/social.coves.community.post/3kpost0000002";
const OTHER: &str = "at://did:plc:community000000000000000/app.bsky.feed.post/3kpost0000003";

fn vote(subject: &str, direction: &str, created_at: &str) -> Value {
    json!({"$type": VOTE, "subject": {"uri": subject, "cid": "bafyreisubject"}, "direction": direction, "createdAt": created_at})
}

fn voter(n: u32) -> String {
    format!("did:plc:voter{n:019}")
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Counts {
    #[diesel(sql_type = Text)]
    subject_uri: String,
    #[diesel(sql_type = BigInt)]
    upvotes: i64,
    #[diesel(sql_type = BigInt)]
    downvotes: i64,
}

/// The stored counters (subjects with any votes).
async fn stored(app: &TestApp) -> Vec<Counts> {
    let mut conn = app.db.connect().await;
    diesel::sql_query(
        "SELECT subject_uri, upvotes::bigint AS upvotes, downvotes::bigint AS downvotes FROM vote_counts \
         WHERE upvotes <> 0 OR downvotes <> 0 ORDER BY subject_uri",
    )
    .load(&mut conn)
    .await
    .expect("read counts")
}

/// A full recount from the vote rows: what the incremental counters must equal.
async fn recounted(app: &TestApp) -> Vec<Counts> {
    let mut conn = app.db.connect().await;
    diesel::sql_query(
        "WITH effective AS (SELECT DISTINCT ON (subject_uri, voter) subject_uri, direction FROM votes \
           WHERE NOT deleted AND (subject_uri LIKE '%/social.coves.community.post/%' OR subject_uri LIKE '%/social.coves.community.comment/%') \
           ORDER BY subject_uri, voter, created_at DESC, rkey DESC) \
         SELECT subject_uri, count(*) FILTER (WHERE direction = 1) AS upvotes, count(*) FILTER (WHERE direction = -1) AS downvotes \
         FROM effective GROUP BY subject_uri ORDER BY subject_uri",
    )
    .load(&mut conn)
    .await
    .expect("recount")
}

fn counts(list: &[(&str, i64, i64)]) -> Vec<Counts> {
    list.iter().map(|(s, u, d)| Counts { subject_uri: (*s).to_owned(), upvotes: *u, downvotes: *d }).collect()
}

#[tokio::test]
async fn votes_count_before_their_subject_exists_and_replays_change_nothing() {
    let app = TestApp::start().await;
    let events = [
        create(&voter(1), VOTE, "3kv0000000001", "3kr0000000001", 1, vote(POST_A, "up", "2026-01-01T00:00:01Z")),
        create(&voter(2), VOTE, "3kv0000000002", "3kr0000000002", 2, vote(POST_A, "down", "2026-01-01T00:00:02Z")),
        create(&voter(3), VOTE, "3kv0000000003", "3kr0000000003", 3, vote(POST_B, "up", "2026-01-01T00:00:03Z")),
        create(&voter(3), VOTE, "3kv0000000004", "3kr0000000004", 4, vote(OTHER, "up", "2026-01-01T00:00:04Z")),
    ];
    let outcome = app.ingest(&events).await;
    assert_eq!(outcome.changed_subjects, [POST_A, POST_B]);
    let expected = counts(&[(POST_A, 1, 1), (POST_B, 1, 0)]);
    assert_eq!(stored(&app).await, expected);

    app.ingest(&events).await;
    app.ingest(&events[1..2]).await;
    assert_eq!(stored(&app).await, expected, "replays never double count");
}

#[tokio::test]
async fn the_newest_vote_per_voter_and_subject_counts_and_deletes_restore_the_previous() {
    let app = TestApp::start().await;
    let me = voter(1);
    let older = create(&me, VOTE, "3kv0000000001", "3kr0000000001", 1, vote(POST_A, "up", "2026-01-01T00:00:01Z"));
    let newer = create(&me, VOTE, "3kv0000000002", "3kr0000000002", 2, vote(POST_A, "down", "2026-01-01T00:00:02Z"));
    app.ingest(&[older, newer]).await;
    assert_eq!(stored(&app).await, counts(&[(POST_A, 0, 1)]), "a second vote replaces the first");

    app.ingest(&[delete(&me, VOTE, "3kv0000000002", "3kr0000000003", 3)]).await;
    assert_eq!(stored(&app).await, counts(&[(POST_A, 1, 0)]), "the superseded vote counts again");

    app.ingest(&[update(&me, VOTE, "3kv0000000001", "3kr0000000004", 4, vote(POST_A, "down", "2026-01-01T00:00:01Z"))])
        .await;
    assert_eq!(stored(&app).await, counts(&[(POST_A, 0, 1)]), "a direction flip moves one count");

    app.ingest(&[update(&me, VOTE, "3kv0000000001", "3kr0000000005", 5, vote(POST_B, "down", "2026-01-01T00:00:01Z"))])
        .await;
    assert_eq!(stored(&app).await, counts(&[(POST_B, 0, 1)]), "moving a vote to another subject moves its count");
}

#[tokio::test]
async fn a_delete_that_arrives_before_its_create_leaves_no_trace() {
    let app = TestApp::start().await;
    let me = voter(1);
    app.ingest(&[delete(&me, VOTE, "3kv0000000001", "3kr0000000002", 2)]).await;
    app.ingest(&[create(&me, VOTE, "3kv0000000001", "3kr0000000001", 1, vote(POST_A, "up", "2026-01-01T00:00:01Z"))])
        .await;
    assert_eq!(stored(&app).await, counts(&[]));
}

#[tokio::test]
async fn bad_votes_are_skipped_with_reasons() {
    let app = TestApp::start().await;
    let outcome = app
        .ingest(&[
            create(
                &voter(1),
                VOTE,
                "3kv0000000001",
                "3kr0000000001",
                1,
                vote(POST_A, "sideways", "2026-01-01T00:00:01Z"),
            ),
            create(&voter(2), VOTE, "3kv0000000002", "3kr0000000002", 2, json!({"direction": "up"})),
            create(&voter(3), VOTE, "3kv0000000003", "3kr0000000003", 3, vote(POST_A, "up", "2026-01-01T00:00:01Z")),
        ])
        .await;
    let reasons: Vec<_> = outcome.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(reasons, ["invalid_direction", "invalid_record"]);
    assert_eq!(stored(&app).await, counts(&[(POST_A, 1, 0)]));
}

/// (voter, subject, direction, createdAt, rkey) of a live vote.
type LiveVote = (String, String, i16, String, String);

/// A tiny deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[tokio::test]
async fn counts_equal_a_recount_and_the_model_under_any_order_and_batching() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let subjects = [POST_A, POST_B, OTHER];
    // Per repo: a sequence of commits with increasing revs; per URI the last one wins.
    let mut events = Vec::new();
    let mut final_state: BTreeMap<String, Option<LiveVote>> = BTreeMap::new();
    for v in 0..12u32 {
        let did = voter(v);
        let mut rev = 0u32;
        let mut live: Vec<String> = Vec::new();
        for step in 0..15u32 {
            rev += 1;
            let rev_s = format!("3kr{rev:010}");
            let time_us = i64::from(v * 1000 + step);
            if !live.is_empty() && rng.next(4) == 0 {
                let rkey = live.remove(rng.next(live.len() as u64) as usize);
                events.push(delete(&did, VOTE, &rkey, &rev_s, time_us));
                final_state.insert(format!("{did}/{rkey}"), None);
            } else {
                let rkey = if !live.is_empty() && rng.next(3) == 0 {
                    live[rng.next(live.len() as u64) as usize].clone()
                } else {
                    let rkey = format!("3kv{:010}", v * 100 + step);
                    live.push(rkey.clone());
                    rkey
                };
                let subject = subjects[rng.next(3) as usize];
                let direction = if rng.next(2) == 0 { "up" } else { "down" };
                let created = format!("2026-01-01T00:{:02}:{:02}Z", rng.next(3), rng.next(60));
                events.push(create(&did, VOTE, &rkey, &rev_s, time_us, vote(subject, direction, &created)));
                let dir = if direction == "up" { 1 } else { -1 };
                final_state.insert(
                    format!("{did}/{rkey}"),
                    Some((did.clone(), subject.to_owned(), dir, created, rkey.clone())),
                );
            }
        }
    }
    // The model: effective vote per (voter, subject) = greatest (createdAt, rkey) among live votes.
    let mut effective: BTreeMap<(String, String), (String, String, i16)> = BTreeMap::new();
    for (did, subject, dir, created, rkey) in final_state.values().flatten() {
        let key = (did.clone(), subject.clone());
        let candidate = (created.clone(), rkey.clone(), *dir);
        if effective.get(&key).is_none_or(|e| (&e.0, &e.1) < (&candidate.0, &candidate.1)) {
            effective.insert(key, candidate);
        }
    }
    let mut model: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for ((_, subject), (_, _, dir)) in &effective {
        if subject.as_str() == OTHER {
            continue;
        }
        let entry = model.entry(subject.as_str()).or_default();
        if *dir == 1 { entry.0 += 1 } else { entry.1 += 1 }
    }
    let expected: Vec<Counts> =
        model.iter().map(|(s, (u, d))| Counts { subject_uri: (*s).to_owned(), upvotes: *u, downvotes: *d }).collect();

    // In order, in one batch; then shuffled in random batches with replays, on fresh databases.
    for round in 0..3 {
        let app = TestApp::start().await;
        let mut order: Vec<Event> = events.clone();
        if round > 0 {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.next(i as u64 + 1) as usize);
            }
        }
        let mut start = 0;
        while start < order.len() {
            let size = if round == 0 { order.len() } else { 1 + rng.next(20) as usize };
            let end = (start + size).min(order.len());
            app.ingest(&order[start..end]).await;
            if rng.next(3) == 0 {
                let from = rng.next(end as u64) as usize;
                app.ingest(&order[from..end]).await; // a replay
            }
            start = end;
        }
        assert_eq!(stored(&app).await, expected, "round {round}: counters equal the model");
        assert_eq!(recounted(&app).await, expected, "round {round}: a recount from rows agrees");
    }
}
