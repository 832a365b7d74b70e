//! Applying a batch of comment commits with at most three statements, whatever its size
//! (one or two for a batch of single creates and deletes):
//!
//! 1. only when some comment has an update or several commits in the batch: the stored
//!    state of those comments, locked (see [`crate::plan`]);
//! 2. one row per changed comment is upserted, guarded by repo rev, and in the same
//!    statement the counters move by the difference between each written comment's live
//!    state before (the statement's snapshot) and after (`RETURNING`): −1 for the parent's
//!    `reply_count` and the root's `thread_count` of a comment that was live, +1 for those
//!    of a comment that is live now (never below 0). A replay writes nothing and so moves
//!    nothing; a reply that arrives before its parent counts from the start, on a counter
//!    row keyed by URI; counters move by increments, so concurrent writers lose no update;
//! 3. when the batch has creates or updates: the commenters become known actors.
//!
//! Counts therefore always equal a recount of the live rows, whatever the order of arrival.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::sql_types::{Array, Bool, Jsonb, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryableByName, sql_query};
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::{CommitEvent, CommitOp, IngestTx};
use serde_json::Value;

use crate::plan::{self, Commit, Op, Row, Stored, Version};
use crate::record::parse_comment;

/// Applies a batch of `social.coves.community.comment` commits.
pub async fn apply_comments(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    let commits = validate(tx, batch);
    if commits.is_empty() {
        return Ok(());
    }
    let grouped = plan::by_comment(&commits);
    let needed: Vec<String> =
        grouped.values().filter(|list| plan::needs_stored(list)).map(|list| list[0].event.uri().to_string()).collect();
    let stored = load_stored(tx, &needed).await?;
    let mut refused = Vec::new();
    let rows: Vec<Row<'_, '_>> = grouped
        .values()
        .filter_map(|list| plan::apply(stored.get(&list[0].event.uri().to_string()), list, &mut refused))
        .collect();
    for refusal in refused {
        tx.skip(refusal.event, "reply_changed", refusal.detail);
    }
    if !rows.is_empty() {
        for subject in upsert(tx, &rows).await? {
            tx.subject_changed(subject);
        }
    }
    remember_commenters(tx, &commits).await
}

/// Parses every commit's record; invalid ones are skipped and take no part.
fn validate<'a>(tx: &mut IngestTx<'_>, batch: &'a [CommitEvent]) -> Vec<Commit<'a>> {
    let mut commits = Vec::with_capacity(batch.len());
    for event in batch {
        let op = match &event.op {
            CommitOp::Delete => Op::Delete,
            CommitOp::Create { record, cid } | CommitOp::Update { record, cid } => {
                let comment = match parse_comment(record) {
                    Ok(comment) => comment,
                    Err(detail) => {
                        tx.skip(event, "invalid_record", detail);
                        continue;
                    }
                };
                let version = Version { comment, record, cid };
                if matches!(event.op, CommitOp::Create { .. }) { Op::Create(version) } else { Op::Update(version) }
            }
        };
        commits.push(Commit { event, op });
    }
    commits
}

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = Text)]
    uri: String,
    #[diesel(sql_type = Text)]
    rev: String,
    #[diesel(sql_type = Bool)]
    deleted: bool,
    #[diesel(sql_type = Nullable<Text>)]
    root_uri: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    parent_uri: Option<String>,
}

/// The stored state of `uris`, locked until the batch commits (in URI order, so two
/// writers cannot deadlock), so the rows written next start from exactly this state.
async fn load_stored(tx: &mut IngestTx<'_>, uris: &[String]) -> anyhow::Result<BTreeMap<String, Stored>> {
    if uris.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<StoredRow> = sql_query(
        "/* comment::apply stored */ SELECT uri, rev, deleted, root_uri, parent_uri FROM comments \
         WHERE uri = ANY($1::text[]) ORDER BY uri FOR UPDATE",
    )
    .bind::<Array<Text>, _>(uris)
    .load(tx.conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.uri, Stored { rev: r.rev, deleted: r.deleted, root_uri: r.root_uri, parent_uri: r.parent_uri }))
        .collect())
}

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Text)]
    subject_uri: String,
}

/// Writes the rows (see [`Row`] for what a `NULL` keeps) and moves the counters of the
/// comments whose live state or thread position changed. Returns the subjects whose
/// counters changed.
async fn upsert(tx: &mut IngestTx<'_>, rows: &[Row<'_, '_>]) -> anyhow::Result<Vec<String>> {
    let n = rows.len();
    let mut uri = Vec::with_capacity(n);
    let mut commenter = Vec::with_capacity(n);
    let mut rkey = Vec::with_capacity(n);
    let mut cid: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut rev = Vec::with_capacity(n);
    let mut record: Vec<Option<&Value>> = Vec::with_capacity(n);
    let mut root_uri: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut root_cid: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut parent_uri: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut parent_cid: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut content: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut facets: Vec<Option<&Value>> = Vec::with_capacity(n);
    let mut embed: Vec<Option<&Value>> = Vec::with_capacity(n);
    let mut langs: Vec<Value> = Vec::with_capacity(n);
    let mut labels: Vec<Option<&Value>> = Vec::with_capacity(n);
    let mut created_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut edited_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut deleted_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    for row in rows {
        uri.push(row.event.uri().to_string());
        commenter.push(row.event.did.as_str());
        rkey.push(row.event.rkey.as_str());
        cid.push(row.cid);
        rev.push(row.event.rev.as_str());
        let live = row.live.map(|v| (v.record, &v.comment));
        record.push(live.map(|(r, _)| r));
        content.push(live.map(|(_, c)| c.content.as_str()));
        facets.push(live.and_then(|(_, c)| c.facets.as_ref()));
        embed.push(live.and_then(|(_, c)| c.embed.as_ref()));
        langs.push(live.map_or_else(|| Value::Array(Vec::new()), |(_, c)| Value::from(c.langs.clone())));
        labels.push(live.and_then(|(_, c)| c.labels.as_ref()));
        let origin = row.origin.map(|(v, created)| (&v.comment, created));
        root_uri.push(origin.map(|(c, _)| c.root.uri.as_str()));
        root_cid.push(origin.map(|(c, _)| c.root.cid.as_str()));
        parent_uri.push(origin.map(|(c, _)| c.parent.uri.as_str()));
        parent_cid.push(origin.map(|(c, _)| c.parent.cid.as_str()));
        created_at.push(origin.map(|(_, created)| created));
        edited_at.push(row.edited_at);
        deleted_at.push(row.deleted_at);
    }
    // A NULL root/parent/createdAt (the batch did not (re)create the comment) or CID keeps
    // the stored value; content columns always take the batch's (NULL when deleted).
    // `written` returns only the rows the rev guard let through; `before` reads the same
    // rows as they were when the statement started.
    let changed: Vec<Changed> = sql_query(
        "/* comment::apply upsert */ WITH i AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
           $5::text[], $6::jsonb[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[], \
           $13::jsonb[], $14::jsonb[], $15::jsonb[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[]) \
           AS i(uri, commenter_did, rkey, cid, rev, record, root_uri, root_cid, parent_uri, parent_cid, content, \
                facets, embed, langs, labels, created_at, edited_at, deleted_at)), \
         before AS (SELECT uri, root_uri, parent_uri FROM comments WHERE uri = ANY($1::text[]) AND NOT deleted), \
         written AS (INSERT INTO comments AS c (uri, commenter_did, rkey, cid, rev, record, root_uri, root_cid, \
             parent_uri, parent_cid, content, facets, embed, langs, labels, created_at, edited_at, deleted, \
             deleted_at, deletion_reason) \
           SELECT i.uri, i.commenter_did, i.rkey, i.cid, i.rev, i.record, i.root_uri, i.root_cid, i.parent_uri, \
             i.parent_cid, i.content, i.facets, i.embed, ARRAY(SELECT jsonb_array_elements_text(i.langs)), i.labels, \
             i.created_at, i.edited_at, i.deleted_at IS NOT NULL, i.deleted_at, \
             CASE WHEN i.deleted_at IS NOT NULL THEN 'author' END \
           FROM i \
           ON CONFLICT (uri) DO UPDATE SET cid = COALESCE(excluded.cid, c.cid), rev = excluded.rev, \
             record = excluded.record, content = excluded.content, facets = excluded.facets, \
             embed = excluded.embed, langs = excluded.langs, labels = excluded.labels, \
             root_uri = COALESCE(excluded.root_uri, c.root_uri), root_cid = COALESCE(excluded.root_cid, c.root_cid), \
             parent_uri = COALESCE(excluded.parent_uri, c.parent_uri), \
             parent_cid = COALESCE(excluded.parent_cid, c.parent_cid), \
             created_at = COALESCE(excluded.created_at, c.created_at), \
             indexed_at = CASE WHEN excluded.created_at IS NULL THEN c.indexed_at ELSE now() END, \
             edited_at = CASE WHEN excluded.created_at IS NULL THEN COALESCE(excluded.edited_at, c.edited_at) \
               ELSE excluded.edited_at END, \
             deleted = excluded.deleted, deleted_at = excluded.deleted_at, deletion_reason = excluded.deletion_reason \
           WHERE c.rev < excluded.rev \
           RETURNING c.uri, c.deleted, c.root_uri, c.parent_uri), \
         moves (subject_uri, replies, thread) AS ( \
           SELECT b.parent_uri, -1, 0 FROM before b JOIN written w ON w.uri = b.uri \
           UNION ALL SELECT b.root_uri, 0, -1 FROM before b JOIN written w ON w.uri = b.uri \
           UNION ALL SELECT parent_uri, 1, 0 FROM written WHERE NOT deleted \
           UNION ALL SELECT root_uri, 0, 1 FROM written WHERE NOT deleted), \
         delta AS (SELECT subject_uri, sum(replies)::int AS replies, sum(thread)::int AS thread FROM moves \
           WHERE subject_uri IS NOT NULL GROUP BY subject_uri) \
         INSERT INTO comment_counts AS n (subject_uri, reply_count, thread_count) \
         SELECT subject_uri, replies, thread FROM delta WHERE replies <> 0 OR thread <> 0 ORDER BY subject_uri \
         ON CONFLICT (subject_uri) DO UPDATE SET \
           reply_count = GREATEST(n.reply_count + excluded.reply_count, 0), \
           thread_count = GREATEST(n.thread_count + excluded.thread_count, 0) \
         RETURNING subject_uri",
    )
    .bind::<Array<Text>, _>(&uri)
    .bind::<Array<Text>, _>(&commenter)
    .bind::<Array<Text>, _>(&rkey)
    .bind::<Array<Nullable<Text>>, _>(&cid)
    .bind::<Array<Text>, _>(&rev)
    .bind::<Array<Nullable<Jsonb>>, _>(&record)
    .bind::<Array<Nullable<Text>>, _>(&root_uri)
    .bind::<Array<Nullable<Text>>, _>(&root_cid)
    .bind::<Array<Nullable<Text>>, _>(&parent_uri)
    .bind::<Array<Nullable<Text>>, _>(&parent_cid)
    .bind::<Array<Nullable<Text>>, _>(&content)
    .bind::<Array<Nullable<Jsonb>>, _>(&facets)
    .bind::<Array<Nullable<Jsonb>>, _>(&embed)
    .bind::<Array<Jsonb>, _>(&langs)
    .bind::<Array<Nullable<Jsonb>>, _>(&labels)
    .bind::<Array<Nullable<Timestamptz>>, _>(&created_at)
    .bind::<Array<Nullable<Timestamptz>>, _>(&edited_at)
    .bind::<Array<Nullable<Timestamptz>>, _>(&deleted_at)
    .load(tx.conn)
    .await?;
    Ok(changed.into_iter().map(|c| c.subject_uri).collect())
}

/// Every commenter becomes a known actor (COVES_API §2.0 rule 6), whose handle the actor
/// plugin then verifies.
async fn remember_commenters(tx: &mut IngestTx<'_>, commits: &[Commit<'_>]) -> anyhow::Result<()> {
    let mut dids: Vec<&str> =
        commits.iter().filter(|c| !matches!(c.op, Op::Delete)).map(|c| c.event.did.as_str()).collect();
    if dids.is_empty() {
        return Ok(());
    }
    dids.sort_unstable();
    dids.dedup();
    sql_query(
        "/* comment::apply commenters */ INSERT INTO actors (did) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
    )
    .bind::<Array<Text>, _>(&dids)
    .execute(tx.conn)
    .await?;
    Ok(())
}
