//! Applying post commits, set-based per batch, idempotent and order-tolerant: each row
//! keeps the repo rev of the last commit applied to it, and an older or equal rev changes
//! nothing. A delete that arrives before its create leaves a tombstone, so the create is
//! then ignored.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryableByName, sql_query};
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::identifiers::CommunityId;
use coves_plugin_api::syntax::Handle;
use coves_plugin_api::{CommitEvent, CommitOp, IngestTx};
use serde_json::Value;

use crate::POST_COLLECTION;
use crate::record::{Post, parse_post};

/// A create or update to write.
struct Write<'a> {
    event: &'a CommitEvent,
    post: Post,
    record: &'a Value,
    cid: &'a str,
    /// Event time of an update (`None` for a create).
    edited_at: Option<DateTime<Utc>>,
}

/// Applies a batch of `social.coves.community.post` commits: the newest commit (greatest
/// rev) per post wins, then the touched communities' post counts are recounted.
pub async fn apply_posts(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    let mut newest: BTreeMap<(&str, &str), &CommitEvent> = BTreeMap::new();
    for event in batch {
        let key = (event.did.as_str(), event.rkey.as_str());
        if newest.get(&key).is_none_or(|seen| seen.rev < event.rev) {
            newest.insert(key, event);
        }
    }
    let mut writes = Vec::new();
    let mut deletes = Vec::new();
    for event in newest.into_values() {
        let (record, cid, edited_at) = match &event.op {
            CommitOp::Create { record, cid } => (record, cid, None),
            CommitOp::Update { record, cid } => (record, cid, Some(event_time(event))),
            CommitOp::Delete => {
                deletes.push(event);
                continue;
            }
        };
        let post = match parse_post(record) {
            Ok(post) => post,
            Err(reason) => {
                tx.skip(event, "invalid_record", reason);
                continue;
            }
        };
        if let Err(reason) = check_community(tx, event, &post.community).await? {
            tx.skip(event, "community_mismatch", reason);
            continue;
        }
        writes.push(Write { event, post, record, cid, edited_at });
    }
    drop_author_changes(tx, &mut writes).await?;
    let mut touched: Vec<&str> = writes.iter().map(|w| w.event.did.as_str()).collect();
    touched.extend(deletes.iter().map(|e| e.did.as_str()));
    touched.sort_unstable();
    touched.dedup();
    if !writes.is_empty() {
        upsert(tx, &writes).await?;
        remember_authors(tx, &writes).await?;
    }
    if !deletes.is_empty() {
        tombstone(tx, &deletes).await?;
        // Live subscribers of a deleted post learn it is gone.
        for event in &deletes {
            tx.subject_changed(format!("at://{}/{POST_COLLECTION}/{}", event.did, event.rkey));
        }
    }
    if !touched.is_empty() {
        for community in recount(tx, &touched).await? {
            tx.subject_changed(community);
        }
    }
    Ok(())
}

/// The record's `community` must name the repo it lives in (COVES_API §2.4): normally its
/// DID; a handle is resolved among indexed communities.
async fn check_community(
    tx: &mut IngestTx<'_>,
    event: &CommitEvent,
    community: &str,
) -> anyhow::Result<Result<(), String>> {
    if community.starts_with("did:") {
        return Ok(if community == event.did.as_str() {
            Ok(())
        } else {
            Err(format!("`community` is {community}, but the post lives in {}'s repo", event.did))
        });
    }
    let handle = community.strip_prefix('@').unwrap_or(community).to_ascii_lowercase();
    let Ok(handle) = Handle::new(handle) else {
        return Ok(Err(format!("`community` {community:?} is neither a DID nor a handle")));
    };
    let resolved = coves_plugin_community::resolve_community(tx.conn, &CommunityId::Handle(handle)).await?;
    Ok(match resolved {
        Some(did) if did == event.did.as_str() => Ok(()),
        Some(did) => Err(format!("`community` {community} is {did}, but the post lives in {}'s repo", event.did)),
        None => Err(format!(
            "`community` {community} is not an indexed community handle; posts name their community by DID"
        )),
    })
}

#[derive(QueryableByName)]
struct StoredAuthor {
    #[diesel(sql_type = Text)]
    uri: String,
    #[diesel(sql_type = Text)]
    author_did: String,
}

/// An update may not change a post's author (COVES_API §2.4): such updates are skipped
/// with a reason instead of applied.
async fn drop_author_changes(tx: &mut IngestTx<'_>, writes: &mut Vec<Write<'_>>) -> anyhow::Result<()> {
    let updates: Vec<String> =
        writes.iter().filter(|w| w.edited_at.is_some()).map(|w| w.event.uri().to_string()).collect();
    if updates.is_empty() {
        return Ok(());
    }
    let stored: Vec<StoredAuthor> = sql_query(
        "/* post::apply authors of updated posts */ SELECT uri, author_did FROM posts \
         WHERE uri = ANY($1::text[]) AND author_did IS NOT NULL",
    )
    .bind::<Array<Text>, _>(&updates)
    .load(tx.conn)
    .await?;
    let authors: BTreeMap<String, String> = stored.into_iter().map(|s| (s.uri, s.author_did)).collect();
    let mut kept = Vec::with_capacity(writes.len());
    for write in writes.drain(..) {
        match authors.get(&write.event.uri().to_string()) {
            Some(author) if write.edited_at.is_some() && author != write.post.author.as_str() => tx.skip(
                write.event,
                "author_changed",
                format!("an update may not change the author ({author} → {})", write.post.author),
            ),
            _ => kept.push(write),
        }
    }
    *writes = kept;
    Ok(())
}

fn event_time(event: &CommitEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(event.time_us).unwrap_or_else(Utc::now)
}

/// Inserts new posts; applies updates to live posts with an older rev (keeping community,
/// author and createdAt, and refusing a change of author). A create of a known URI changes
/// nothing.
async fn upsert(tx: &mut IngestTx<'_>, writes: &[Write<'_>]) -> anyhow::Result<()> {
    let now = Utc::now();
    let uris: Vec<String> = writes.iter().map(|w| w.event.uri().to_string()).collect();
    let communities: Vec<&str> = writes.iter().map(|w| w.event.did.as_str()).collect();
    let rkeys: Vec<&str> = writes.iter().map(|w| w.event.rkey.as_str()).collect();
    let authors: Vec<&str> = writes.iter().map(|w| w.post.author.as_str()).collect();
    let cids: Vec<&str> = writes.iter().map(|w| w.cid).collect();
    let revs: Vec<&str> = writes.iter().map(|w| w.event.rev.as_str()).collect();
    let records: Vec<&Value> = writes.iter().map(|w| w.record).collect();
    let titles: Vec<Option<&str>> = writes.iter().map(|w| w.post.title.as_deref()).collect();
    let contents: Vec<Option<&str>> = writes.iter().map(|w| w.post.content.as_deref()).collect();
    let facets: Vec<Option<&Value>> = writes.iter().map(|w| w.post.facets.as_ref()).collect();
    let embeds: Vec<Option<&Value>> = writes.iter().map(|w| w.post.embed.as_ref()).collect();
    let langs: Vec<Value> = writes.iter().map(|w| Value::from(w.post.langs.clone())).collect();
    let tags: Vec<Value> = writes.iter().map(|w| Value::from(w.post.tags.clone())).collect();
    let labels: Vec<Option<&Value>> = writes.iter().map(|w| w.post.labels.as_ref()).collect();
    let created: Vec<DateTime<Utc>> = writes.iter().map(|w| w.post.created_at.unwrap_or(now)).collect();
    let edited: Vec<Option<DateTime<Utc>>> = writes.iter().map(|w| w.edited_at).collect();
    sql_query(format!(
        "/* post::apply upsert */ INSERT INTO posts AS p (uri, community_did, rkey, author_did, cid, rev, record, \
           title, content, facets, embed, langs, tags, labels, created_at, edited_at, score) \
         SELECT i.uri, i.community, i.rkey, i.author, i.cid, i.rev, i.record, i.title, i.content, i.facets, i.embed, \
           ARRAY(SELECT jsonb_array_elements_text(i.langs)), ARRAY(SELECT jsonb_array_elements_text(i.tags)), \
           i.labels, i.created_at, i.edited_at, \
           {SCORE_SO_FAR} \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[], \
           $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[], $13::jsonb[], $14::jsonb[], $15::timestamptz[], \
           $16::timestamptz[]) \
           AS i(uri, community, rkey, author, cid, rev, record, title, content, facets, embed, langs, tags, labels, \
                created_at, edited_at) \
         ON CONFLICT (uri) DO UPDATE SET cid = EXCLUDED.cid, rev = EXCLUDED.rev, record = EXCLUDED.record, \
           title = EXCLUDED.title, content = EXCLUDED.content, facets = EXCLUDED.facets, embed = EXCLUDED.embed, \
           langs = EXCLUDED.langs, tags = EXCLUDED.tags, labels = EXCLUDED.labels, edited_at = EXCLUDED.edited_at \
         WHERE EXCLUDED.edited_at IS NOT NULL AND NOT p.deleted AND p.rev < EXCLUDED.rev \
           AND p.author_did = EXCLUDED.author_did"
    ))
    .bind::<Array<Text>, _>(&uris)
    .bind::<Array<Text>, _>(&communities)
    .bind::<Array<Text>, _>(&rkeys)
    .bind::<Array<Text>, _>(&authors)
    .bind::<Array<Text>, _>(&cids)
    .bind::<Array<Text>, _>(&revs)
    .bind::<Array<Jsonb>, _>(&records)
    .bind::<Array<Nullable<Text>>, _>(&titles)
    .bind::<Array<Nullable<Text>>, _>(&contents)
    .bind::<Array<Nullable<Jsonb>>, _>(&facets)
    .bind::<Array<Nullable<Jsonb>>, _>(&embeds)
    .bind::<Array<Jsonb>, _>(&langs)
    .bind::<Array<Jsonb>, _>(&tags)
    .bind::<Array<Nullable<Jsonb>>, _>(&labels)
    .bind::<Array<Timestamptz>, _>(&created)
    .bind::<Array<Nullable<Timestamptz>>, _>(&edited)
    .execute(tx.conn)
    .await?;
    Ok(())
}

/// A post's score from the votes stored before it (they may arrive first); from then on
/// the vote_counts triggers keep it.
const SCORE_SO_FAR: &str =
    "COALESCE((SELECT vc.upvotes - vc.downvotes FROM vote_counts vc WHERE vc.subject_uri = i.uri), 0)";

/// Every post author becomes a known actor (COVES_API §2.0 rule 6), whose handle the actor
/// plugin then verifies.
async fn remember_authors(tx: &mut IngestTx<'_>, writes: &[Write<'_>]) -> anyhow::Result<()> {
    let mut authors: Vec<&str> = writes.iter().map(|w| w.post.author.as_str()).collect();
    authors.sort_unstable();
    authors.dedup();
    sql_query("/* post::apply authors */ INSERT INTO actors (did) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING")
        .bind::<Array<Text>, _>(&authors)
        .execute(tx.conn)
        .await?;
    Ok(())
}

/// Soft-deletes posts (content dropped, rev kept); a delete of an unknown post leaves a
/// tombstone so its create, should it arrive later, is ignored.
async fn tombstone(tx: &mut IngestTx<'_>, deletes: &[&CommitEvent]) -> anyhow::Result<()> {
    let uris: Vec<String> = deletes.iter().map(|e| e.uri().to_string()).collect();
    let communities: Vec<&str> = deletes.iter().map(|e| e.did.as_str()).collect();
    let rkeys: Vec<&str> = deletes.iter().map(|e| e.rkey.as_str()).collect();
    let revs: Vec<&str> = deletes.iter().map(|e| e.rev.as_str()).collect();
    let times: Vec<DateTime<Utc>> = deletes.iter().map(|e| event_time(e)).collect();
    sql_query(format!(
        "/* post::apply delete */ INSERT INTO posts AS p (uri, community_did, rkey, rev, deleted, deleted_at, score) \
         SELECT i.uri, i.community, i.rkey, i.rev, true, i.deleted_at, \
           {SCORE_SO_FAR} \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
           AS i(uri, community, rkey, rev, deleted_at) \
         ON CONFLICT (uri) DO UPDATE SET deleted = true, deleted_at = EXCLUDED.deleted_at, rev = EXCLUDED.rev, \
           record = NULL, title = NULL, content = NULL, facets = NULL, embed = NULL, labels = NULL \
         WHERE p.rev < EXCLUDED.rev"
    ))
    .bind::<Array<Text>, _>(&uris)
    .bind::<Array<Text>, _>(&communities)
    .bind::<Array<Text>, _>(&rkeys)
    .bind::<Array<Text>, _>(&revs)
    .bind::<Array<Timestamptz>, _>(&times)
    .execute(tx.conn)
    .await?;
    Ok(())
}

/// Sets the touched communities' `post_count` to their number of live posts and returns
/// those whose count changed. A recount (rather than a delta) is exact under replays and
/// reordering by construction; a community indexed later counts its stored posts through
/// the migration's trigger.
async fn recount(tx: &mut IngestTx<'_>, communities: &[&str]) -> anyhow::Result<Vec<String>> {
    #[derive(coves_plugin_api::diesel::QueryableByName)]
    struct Changed {
        #[diesel(sql_type = Text)]
        did: String,
    }
    let changed: Vec<Changed> = sql_query(
        "/* post::apply recount */ WITH counted AS (SELECT c.did, \
           (SELECT count(*) FROM posts p WHERE p.community_did = c.did AND NOT p.deleted) AS n \
           FROM communities c WHERE c.did = ANY($1::text[])) \
         UPDATE communities c SET post_count = counted.n FROM counted \
         WHERE c.did = counted.did AND c.post_count <> counted.n RETURNING c.did",
    )
    .bind::<Array<Text>, _>(communities)
    .load(tx.conn)
    .await?;
    Ok(changed.into_iter().map(|c| c.did).collect())
}
