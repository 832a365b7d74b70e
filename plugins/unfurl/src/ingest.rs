//! The ingest side: which link each post of the batch previews, and the queue of links to
//! fetch. No network here, and one statement per batch with posts.

use std::collections::BTreeMap;

use coves_plugin_api::diesel::sql_query;
use coves_plugin_api::diesel::sql_types::{Array, Nullable, Text};
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::{CommitEvent, CommitOp, IngestTx};
use coves_plugin_post::POST_COLLECTION;
use serde_json::Value;

use crate::link::preview_link;

/// Records the preview link of every post the batch created or updated and queues the
/// links that have no fresh cache entry; forgets the links of deleted posts.
///
/// The post plugin has already applied the batch (it comes first). A commit counts only
/// if its CID is the one the post plugin kept (joined in SQL), so replays and overtaken
/// updates, which it ignored by rev, change nothing here either.
pub async fn apply(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    // The newest commit per post, as the post plugin keeps it.
    let mut newest: BTreeMap<(&str, &str), &CommitEvent> = BTreeMap::new();
    for event in batch.iter().filter(|e| e.collection.as_str() == POST_COLLECTION) {
        let key = (event.did.as_str(), event.rkey.as_str());
        if newest.get(&key).is_none_or(|seen| seen.rev < event.rev) {
            newest.insert(key, event);
        }
    }
    let (mut posts, mut cids, mut links, mut deleted) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for event in newest.into_values() {
        let (record, cid, update) = match &event.op {
            CommitOp::Create { record, cid } => (record, cid, false),
            CommitOp::Update { record, cid } => (record, cid, true),
            CommitOp::Delete => {
                deleted.push(event.uri().to_string());
                continue;
            }
        };
        let link =
            preview_link(record.get("embed"), record.get("facets"), record.get("content").and_then(Value::as_str));
        // A new post without a link has nothing to record; an update may have dropped one.
        if link.is_some() || update {
            posts.push(event.uri().to_string());
            cids.push(cid.as_str());
            links.push(link);
        }
    }
    if posts.is_empty() && deleted.is_empty() {
        return Ok(());
    }
    sql_query(
        "/* unfurl::ingest */ WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS t(post_uri, cid, url)), \
         current AS (SELECT i.post_uri, i.url FROM input i JOIN posts p ON p.uri = i.post_uri AND p.cid = i.cid AND NOT p.deleted), \
         gone AS (DELETE FROM unfurl_post_links l WHERE l.post_uri = ANY($4) \
                  OR l.post_uri IN (SELECT post_uri FROM current WHERE url IS NULL)), \
         linked AS (INSERT INTO unfurl_post_links (post_uri, url) SELECT post_uri, url FROM current WHERE url IS NOT NULL \
                    ON CONFLICT (post_uri) DO UPDATE SET url = EXCLUDED.url WHERE unfurl_post_links.url <> EXCLUDED.url) \
         INSERT INTO unfurl_queue (url) SELECT DISTINCT url FROM current i WHERE url IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM unfurl_cache c WHERE c.url = i.url AND c.expires_at > now()) \
         ON CONFLICT (url) DO NOTHING",
    )
    .bind::<Array<Text>, _>(&posts)
    .bind::<Array<Text>, _>(&cids)
    .bind::<Array<Nullable<Text>>, _>(&links)
    .bind::<Array<Text>, _>(&deleted)
    .execute(tx.conn)
    .await?;
    Ok(())
}
