//! Applying a batch of vote commits with two statements, whatever its size:
//!
//! 1. the batch (folded to the newest commit per vote URI) is upserted, guarded by repo
//!    rev (replays and overtaken commits change nothing; deletes leave tombstones so a
//!    replayed create cannot revive a vote). The same statement returns every counted
//!    (voter, subject) pair the batch touches (new values, and the stored values of the
//!    same URIs) with the pair's effective vote *before* the upsert: the live vote with
//!    the greatest (createdAt, rkey). All parts of a statement read one snapshot.
//! 2. each pair's effective vote is read again and the counters move by the difference.
//!
//! Counts therefore always equal a recount of the rows, whatever the order of arrival,
//! and a vote that arrives before its subject counts from the start.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::QueryableByName;
use coves_plugin_api::diesel::sql_types::{Array, Bool, Nullable, SmallInt, Text, Timestamptz};
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::{CommitEvent, CommitOp, IngestTx};

use crate::record::{Vote, parse_vote};

/// A vote record's identity: (voter DID, rkey); its URI is at://voter/<collection>/rkey.
type VoteKey<'a> = (&'a str, &'a str);

/// The newest state of one vote within the batch.
struct Change<'a> {
    event: &'a CommitEvent,
    /// `None` for a delete.
    vote: Option<Vote>,
}

pub async fn apply_votes(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    let changes = fold(tx, batch);
    if changes.is_empty() {
        return Ok(());
    }
    let before = upsert(tx, &changes).await?;
    for subject in recount(tx, &before).await? {
        tx.subject_changed(subject);
    }
    Ok(())
}

/// Validates and keeps the newest commit (greatest rev) per URI. Jetstream delivers a
/// repo's commits in rev order, but a reconnect's replay can put older ones after newer.
fn fold<'a>(tx: &mut IngestTx<'_>, batch: &'a [CommitEvent]) -> BTreeMap<VoteKey<'a>, Change<'a>> {
    let mut changes = BTreeMap::new();
    for event in batch {
        let vote = match &event.op {
            CommitOp::Create { record, .. } | CommitOp::Update { record, .. } => match parse_vote(record) {
                Ok(vote) => Some(vote),
                Err((reason, detail)) => {
                    tx.skip(event, reason, detail);
                    continue;
                }
            },
            CommitOp::Delete => None,
        };
        let key = (event.did.as_str(), event.rkey.as_str());
        if changes.get(&key).is_none_or(|c: &Change<'_>| c.event.rev < event.rev) {
            changes.insert(key, Change { event, vote });
        }
    }
    changes
}

/// The effective vote of a (voter, subject) pair `p`, as a LATERAL subquery over `votes`.
const EFFECTIVE_SQL: &str = "SELECT v.direction FROM votes v \
     WHERE v.subject_uri = p.subject_uri AND v.voter = p.voter AND NOT v.deleted \
     ORDER BY v.created_at DESC, v.rkey DESC LIMIT 1";

/// A touched (voter, subject) pair and the direction of its effective vote before the batch.
#[derive(QueryableByName)]
struct PairBefore {
    #[diesel(sql_type = Text)]
    voter: String,
    #[diesel(sql_type = Text)]
    subject_uri: String,
    #[diesel(sql_type = Nullable<SmallInt>)]
    direction: Option<i16>,
}

/// Writes the batch; returns the touched counted pairs with their effective vote before it.
async fn upsert(tx: &mut IngestTx<'_>, changes: &BTreeMap<VoteKey<'_>, Change<'_>>) -> anyhow::Result<Vec<PairBefore>> {
    let mut voter = Vec::with_capacity(changes.len());
    let mut rkey = Vec::with_capacity(changes.len());
    let mut subject_uri: Vec<Option<&str>> = Vec::with_capacity(changes.len());
    let mut direction: Vec<Option<i16>> = Vec::with_capacity(changes.len());
    let mut created_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(changes.len());
    let mut rev = Vec::with_capacity(changes.len());
    let mut deleted = Vec::with_capacity(changes.len());
    for ((did, key), change) in changes {
        let event = change.event;
        voter.push(*did);
        rkey.push(*key);
        rev.push(event.rev.as_str());
        deleted.push(change.vote.is_none());
        subject_uri.push(change.vote.as_ref().map(|v| v.subject_uri.as_str()));
        direction.push(change.vote.as_ref().map(|v| v.direction));
        // An unparseable createdAt falls back to the event time, which replays reproduce.
        created_at.push(change.vote.as_ref().map(|v| v.created_at.unwrap_or_else(|| event_time(event))));
    }
    // Votes count only on posts and comments; votes on anything else are stored only.
    let counted = |column: &str| {
        format!(
            "({column} LIKE '%/social.coves.community.post/%' OR {column} LIKE '%/social.coves.community.comment/%')"
        )
    };
    // Each stored version is found with one primary-key probe: a LATERAL with LIMIT cannot
    // be turned into a join, which the planner (misjudging the counted filter) would run
    // as a full scan of `votes`.
    let sql = format!(
        "/* vote::upsert */ WITH batch AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], \
           $5::timestamptz[], $6::text[], $7::bool[]) AS b(voter, rkey, subject_uri, direction, created_at, rev, deleted)), \
         p AS (SELECT voter, subject_uri FROM batch WHERE NOT deleted \
           UNION SELECT o.voter, o.subject_uri FROM batch b CROSS JOIN LATERAL (SELECT v.voter, v.subject_uri \
             FROM votes v WHERE v.voter = b.voter AND v.rkey = b.rkey AND NOT v.deleted LIMIT 1) o), \
         before AS (SELECT p.voter, p.subject_uri, e.direction FROM p LEFT JOIN LATERAL ({EFFECTIVE_SQL}) e ON true \
           WHERE {counted}), \
         written AS (INSERT INTO votes (voter, rkey, subject_uri, direction, created_at, rev, deleted) \
           SELECT * FROM batch \
           ON CONFLICT (voter, rkey) DO UPDATE SET \
             subject_uri = CASE WHEN excluded.deleted THEN votes.subject_uri ELSE excluded.subject_uri END, \
             direction = CASE WHEN excluded.deleted THEN votes.direction ELSE excluded.direction END, \
             created_at = CASE WHEN excluded.deleted THEN votes.created_at ELSE excluded.created_at END, \
             rev = excluded.rev, deleted = excluded.deleted, indexed_at = now() \
           WHERE votes.rev < excluded.rev) \
         SELECT voter, subject_uri, direction FROM before",
        counted = counted("p.subject_uri"),
    );
    Ok(coves_plugin_api::diesel::sql_query(sql)
        .bind::<Array<Text>, _>(&voter)
        .bind::<Array<Text>, _>(&rkey)
        .bind::<Array<Nullable<Text>>, _>(&subject_uri)
        .bind::<Array<Nullable<SmallInt>>, _>(&direction)
        .bind::<Array<Nullable<Timestamptz>>, _>(&created_at)
        .bind::<Array<Text>, _>(&rev)
        .bind::<Array<Bool>, _>(&deleted)
        .load(tx.conn)
        .await?)
}

fn event_time(event: &CommitEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(event.time_us).unwrap_or_else(Utc::now)
}

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Text)]
    subject_uri: String,
}

/// Reads each pair's effective vote after the batch and moves the counters by the
/// difference. Returns the subjects whose counts changed.
async fn recount(tx: &mut IngestTx<'_>, pairs: &[PairBefore]) -> anyhow::Result<Vec<String>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let voters: Vec<&str> = pairs.iter().map(|p| p.voter.as_str()).collect();
    let subjects: Vec<&str> = pairs.iter().map(|p| p.subject_uri.as_str()).collect();
    let before: Vec<Option<i16>> = pairs.iter().map(|p| p.direction).collect();
    let sql = format!(
        "/* vote::recount */ WITH p AS (SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[]) AS p(voter, subject_uri, before)), \
         delta AS ( \
           SELECT p.subject_uri, \
             SUM((a.direction IS NOT DISTINCT FROM 1)::int - (p.before IS NOT DISTINCT FROM 1)::int) AS up, \
             SUM((a.direction IS NOT DISTINCT FROM -1)::int - (p.before IS NOT DISTINCT FROM -1)::int) AS down \
           FROM p LEFT JOIN LATERAL ({EFFECTIVE_SQL}) a ON true GROUP BY p.subject_uri) \
         INSERT INTO vote_counts (subject_uri, upvotes, downvotes) \
         SELECT subject_uri, up, down FROM delta WHERE up <> 0 OR down <> 0 \
         ON CONFLICT (subject_uri) DO UPDATE SET upvotes = vote_counts.upvotes + excluded.upvotes, \
           downvotes = vote_counts.downvotes + excluded.downvotes \
         RETURNING subject_uri"
    );
    let changed: Vec<Changed> = coves_plugin_api::diesel::sql_query(sql)
        .bind::<Array<Text>, _>(&voters)
        .bind::<Array<Text>, _>(&subjects)
        .bind::<Array<Nullable<SmallInt>>, _>(&before)
        .load(tx.conn)
        .await?;
    Ok(changed.into_iter().map(|c| c.subject_uri).collect())
}
