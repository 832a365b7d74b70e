//! The ingest side: which link each post of the batch previews, and the queue of links to
//! fetch. No network here: the batch only writes rows, in two statements.

use coves_plugin_api::diesel::sql_types::{Array, Jsonb, Nullable, Text};
use coves_plugin_api::diesel::{QueryableByName, sql_query};
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::{CommitEvent, IngestTx};
use coves_plugin_post::POST_COLLECTION;
use serde_json::Value;

use crate::link::preview_link;

#[derive(QueryableByName)]
struct PostLinks {
    #[diesel(sql_type = Text)]
    uri: String,
    #[diesel(sql_type = Nullable<Jsonb>)]
    embed: Option<Value>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    facets: Option<Value>,
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
}

/// Records the preview link of every post the batch touched and queues the links that
/// have no fresh cache entry.
///
/// The post plugin has already applied the batch (it comes first), so the `posts` rows
/// are read back rather than the commits: replays and overtaken updates, which the post
/// plugin ignored by rev, change nothing here either, and a deleted post loses its link.
pub async fn apply(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    let mut uris: Vec<String> =
        batch.iter().filter(|e| e.collection.as_str() == POST_COLLECTION).map(|e| e.uri().to_string()).collect();
    if uris.is_empty() {
        return Ok(());
    }
    uris.sort_unstable();
    uris.dedup();
    let rows: Vec<PostLinks> = sql_query(
        "/* unfurl::ingest posts */ SELECT uri, embed, facets, content FROM posts WHERE uri = ANY($1) AND NOT deleted",
    )
    .bind::<Array<Text>, _>(&uris)
    .load(tx.conn)
    .await?;
    let (mut posts, mut links) = (Vec::new(), Vec::new());
    for row in rows {
        if let Some(link) = preview_link(row.embed.as_ref(), row.facets.as_ref(), row.content.as_deref()) {
            posts.push(row.uri);
            links.push(link);
        }
    }
    sql_query(
        "/* unfurl::ingest links */ WITH input AS (SELECT * FROM unnest($1::text[], $2::text[]) AS t(post_uri, url)), \
         gone AS (DELETE FROM unfurl_post_links l WHERE l.post_uri = ANY($3) \
                  AND NOT EXISTS (SELECT 1 FROM input i WHERE i.post_uri = l.post_uri)), \
         linked AS (INSERT INTO unfurl_post_links (post_uri, url) SELECT post_uri, url FROM input \
                    ON CONFLICT (post_uri) DO UPDATE SET url = EXCLUDED.url WHERE unfurl_post_links.url <> EXCLUDED.url) \
         INSERT INTO unfurl_queue (url) SELECT DISTINCT url FROM input i \
         WHERE NOT EXISTS (SELECT 1 FROM unfurl_cache c WHERE c.url = i.url AND c.expires_at > now()) \
         ON CONFLICT (url) DO NOTHING",
    )
    .bind::<Array<Text>, _>(&posts)
    .bind::<Array<Text>, _>(&links)
    .bind::<Array<Text>, _>(&uris)
    .execute(tx.conn)
    .await?;
    Ok(())
}
