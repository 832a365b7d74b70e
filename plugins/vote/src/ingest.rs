//! Applying a batch of vote commits with a constant number of statements:
//!
//! 1. the batch is folded to the newest commit per vote URI;
//! 2. the (voter, subject) pairs those votes had before are read;
//! 3. the votes are upserted, guarded by repo rev (replays and overtaken commits change
//!    nothing; deletes leave tombstones so a replayed create cannot revive a vote);
//! 4. for every touched pair the effective vote (the live one with the greatest
//!    (createdAt, rkey)) is recomputed from the rows, and the counters move by the
//!    difference to the previously effective vote.
//!
//! Counts therefore always equal a recount of the rows, whatever the order of arrival,
//! and a vote that arrives before its subject counts from the start.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::QueryableByName;
use coves_plugin_api::diesel::sql_types::{Array, Bool, Nullable, SmallInt, Text, Timestamptz};
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::{CommitEvent, CommitOp, IngestTx};

use crate::record::{Vote, parse_vote};

/// The newest state of one vote URI within the batch.
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
    let uris: Vec<&str> = changes.keys().map(String::as_str).collect();
    let mut pairs: BTreeSet<(String, String)> = previous_pairs(tx, &uris).await?.into_iter().collect();
    upsert(tx, &changes).await?;
    for change in changes.values() {
        if let Some(vote) = change.vote.as_ref().filter(|v| v.counted) {
            pairs.insert((change.event.did.to_string(), vote.subject_uri.clone()));
        }
    }
    for subject in recount(tx, &pairs).await? {
        tx.subject_changed(subject);
    }
    Ok(())
}

/// Validates and keeps the newest commit (greatest rev) per URI. Jetstream delivers a
/// repo's commits in rev order, but a reconnect's replay can put older ones after newer.
fn fold<'a>(tx: &mut IngestTx<'_>, batch: &'a [CommitEvent]) -> BTreeMap<String, Change<'a>> {
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
        let uri = event.uri().to_string();
        if changes.get(&uri).is_none_or(|c: &Change<'_>| c.event.rev < event.rev) {
            changes.insert(uri, Change { event, vote });
        }
    }
    changes
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = Text)]
    voter: String,
    #[diesel(sql_type = Text)]
    subject_uri: String,
}

/// The counted (voter, subject) pairs the stored versions of these votes belong to.
async fn previous_pairs(tx: &mut IngestTx<'_>, uris: &[&str]) -> anyhow::Result<Vec<(String, String)>> {
    let rows: Vec<Pair> = coves_plugin_api::diesel::sql_query(
        "/* vote::previous_pairs */ SELECT voter, subject_uri FROM votes \
         WHERE uri = ANY($1) AND subject_uri IS NOT NULL AND NOT deleted \
         AND (subject_uri LIKE '%/social.coves.community.post/%' OR subject_uri LIKE '%/social.coves.community.comment/%')",
    )
    .bind::<Array<Text>, _>(uris)
    .load(tx.conn)
    .await?;
    Ok(rows.into_iter().map(|p| (p.voter, p.subject_uri)).collect())
}

async fn upsert(tx: &mut IngestTx<'_>, changes: &BTreeMap<String, Change<'_>>) -> anyhow::Result<()> {
    let mut uri = Vec::with_capacity(changes.len());
    let mut voter = Vec::with_capacity(changes.len());
    let mut rkey = Vec::with_capacity(changes.len());
    let mut subject_uri: Vec<Option<&str>> = Vec::with_capacity(changes.len());
    let mut subject_cid: Vec<Option<&str>> = Vec::with_capacity(changes.len());
    let mut direction: Vec<Option<i16>> = Vec::with_capacity(changes.len());
    let mut created_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(changes.len());
    let mut cid: Vec<Option<&str>> = Vec::with_capacity(changes.len());
    let mut rev = Vec::with_capacity(changes.len());
    let mut deleted = Vec::with_capacity(changes.len());
    for (key, change) in changes {
        let event = change.event;
        uri.push(key.as_str());
        voter.push(event.did.as_str());
        rkey.push(event.rkey.as_str());
        rev.push(event.rev.as_str());
        deleted.push(change.vote.is_none());
        subject_uri.push(change.vote.as_ref().map(|v| v.subject_uri.as_str()));
        subject_cid.push(change.vote.as_ref().map(|v| v.subject_cid.as_str()));
        direction.push(change.vote.as_ref().map(|v| v.direction));
        // An unparseable createdAt falls back to the event time, which replays reproduce.
        created_at.push(change.vote.as_ref().map(|v| v.created_at.unwrap_or_else(|| event_time(event))));
        cid.push(event.record().map(|(_, c)| c));
    }
    coves_plugin_api::diesel::sql_query(
        "/* vote::upsert */ INSERT INTO votes (uri, voter, rkey, subject_uri, subject_cid, direction, created_at, cid, rev, deleted) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::timestamptz[], $8::text[], $9::text[], $10::bool[]) \
         ON CONFLICT (uri) DO UPDATE SET \
           subject_uri = CASE WHEN excluded.deleted THEN votes.subject_uri ELSE excluded.subject_uri END, \
           subject_cid = CASE WHEN excluded.deleted THEN votes.subject_cid ELSE excluded.subject_cid END, \
           direction = CASE WHEN excluded.deleted THEN votes.direction ELSE excluded.direction END, \
           created_at = CASE WHEN excluded.deleted THEN votes.created_at ELSE excluded.created_at END, \
           cid = CASE WHEN excluded.deleted THEN votes.cid ELSE excluded.cid END, \
           rev = excluded.rev, deleted = excluded.deleted, indexed_at = now() \
         WHERE votes.rev < excluded.rev",
    )
    .bind::<Array<Text>, _>(&uri)
    .bind::<Array<Text>, _>(&voter)
    .bind::<Array<Text>, _>(&rkey)
    .bind::<Array<Nullable<Text>>, _>(&subject_uri)
    .bind::<Array<Nullable<Text>>, _>(&subject_cid)
    .bind::<Array<Nullable<SmallInt>>, _>(&direction)
    .bind::<Array<Nullable<Timestamptz>>, _>(&created_at)
    .bind::<Array<Nullable<Text>>, _>(&cid)
    .bind::<Array<Text>, _>(&rev)
    .bind::<Array<Bool>, _>(&deleted)
    .execute(tx.conn)
    .await?;
    Ok(())
}

fn event_time(event: &CommitEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(event.time_us).unwrap_or_else(Utc::now)
}

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Text)]
    subject_uri: String,
}

/// Recomputes the effective vote of each pair and moves the counters by the difference.
/// Returns the subjects whose counts changed.
async fn recount(tx: &mut IngestTx<'_>, pairs: &BTreeSet<(String, String)>) -> anyhow::Result<Vec<String>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let (voters, subjects): (Vec<&str>, Vec<&str>) = pairs.iter().map(|(v, s)| (v.as_str(), s.as_str())).unzip();
    // All CTEs read the snapshot taken at the start of the statement, so `before` is the
    // effective state prior to this batch's changes.
    let changed: Vec<Changed> = coves_plugin_api::diesel::sql_query(
        "/* vote::recount */ WITH pairs AS (SELECT * FROM unnest($1::text[], $2::text[]) AS p(voter, subject_uri)), \
         after AS ( \
           SELECT DISTINCT ON (v.subject_uri, v.voter) v.subject_uri, v.voter, v.uri AS vote_uri, v.direction \
           FROM votes v JOIN pairs p ON p.voter = v.voter AND p.subject_uri = v.subject_uri \
           WHERE NOT v.deleted \
           ORDER BY v.subject_uri, v.voter, v.created_at DESC, v.rkey DESC), \
         before AS ( \
           SELECT e.subject_uri, e.voter, e.vote_uri, e.direction \
           FROM vote_effective e JOIN pairs p ON p.voter = e.voter AND p.subject_uri = e.subject_uri), \
         removed AS ( \
           DELETE FROM vote_effective e USING before b \
           WHERE e.subject_uri = b.subject_uri AND e.voter = b.voter \
             AND NOT EXISTS (SELECT 1 FROM after a WHERE a.subject_uri = b.subject_uri AND a.voter = b.voter)), \
         kept AS ( \
           INSERT INTO vote_effective (subject_uri, voter, vote_uri, direction) SELECT subject_uri, voter, vote_uri, direction FROM after \
           ON CONFLICT (subject_uri, voter) DO UPDATE SET vote_uri = excluded.vote_uri, direction = excluded.direction), \
         delta AS ( \
           SELECT COALESCE(a.subject_uri, b.subject_uri) AS subject_uri, \
             SUM((a.direction IS NOT DISTINCT FROM 1)::int - (b.direction IS NOT DISTINCT FROM 1)::int) AS up, \
             SUM((a.direction IS NOT DISTINCT FROM -1)::int - (b.direction IS NOT DISTINCT FROM -1)::int) AS down \
           FROM after a FULL JOIN before b ON a.subject_uri = b.subject_uri AND a.voter = b.voter \
           GROUP BY 1) \
         INSERT INTO vote_counts (subject_uri, upvotes, downvotes) \
         SELECT subject_uri, up, down FROM delta WHERE up <> 0 OR down <> 0 \
         ON CONFLICT (subject_uri) DO UPDATE SET upvotes = vote_counts.upvotes + excluded.upvotes, \
           downvotes = vote_counts.downvotes + excluded.downvotes \
         RETURNING subject_uri",
    )
    .bind::<Array<Text>, _>(&voters)
    .bind::<Array<Text>, _>(&subjects)
    .load(tx.conn)
    .await?;
    Ok(changed.into_iter().map(|c| c.subject_uri).collect())
}
