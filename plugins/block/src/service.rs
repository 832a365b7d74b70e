//! Reads of which communities users block, shared by GraphQL, XRPC and the feed plugin.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::ApiError;
use coves_plugin_api::cursor::{self, Listed, Page};
use coves_plugin_api::diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryResult, QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::BLOCK_COLLECTION;

/// The columns [`Block`] reads from `community_blocks`.
const COLUMNS: &str = "community_did, rkey, created_at";

/// A user's block of a community: the newest of the user's live block records for it
/// (COVES_API §2.3).
#[derive(Clone, Debug, PartialEq, Eq, QueryableByName)]
pub struct Block {
    #[diesel(sql_type = Text)]
    pub community_did: String,
    /// The record's key (a TID).
    #[diesel(sql_type = Text)]
    pub rkey: String,
    /// The record's createdAt (its event time when unparseable).
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

impl Block {
    /// The record's AT-URI in the blocker's repo.
    pub fn uri(&self, actor_did: &str) -> String {
        format!("at://{actor_did}/{BLOCK_COLLECTION}/{}", self.rkey)
    }
}

/// The viewer's blocks among `community_dids`, by community DID (communities the viewer
/// does not block are absent). One primary-key probe per community.
pub async fn viewer_blocks(
    conn: &mut AsyncPgConnection,
    viewer: &str,
    community_dids: &[&str],
) -> QueryResult<HashMap<String, Block>> {
    if community_dids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Block> = sql_query(format!(
        "/* block::viewer_blocks */ SELECT {COLUMNS} FROM community_blocks \
         WHERE actor_did = $1 AND community_did = ANY($2)"
    ))
    .bind::<Text, _>(viewer)
    .bind::<Array<Text>, _>(community_dids)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|b| (b.community_did.clone(), b)).collect())
}

/// Every community the viewer blocks, newest block first (whether or not the community
/// is indexed yet): what feeds leave out.
pub async fn blocked_communities(conn: &mut AsyncPgConnection, viewer: &str) -> QueryResult<Vec<Block>> {
    sql_query(format!(
        "/* block::blocked_communities */ SELECT {COLUMNS} FROM community_blocks \
         WHERE actor_did = $1 ORDER BY created_at DESC, community_did DESC"
    ))
    .bind::<Text, _>(viewer)
    .load(conn)
    .await
}

/// The cursor scope of [`list_blocks`].
const SCOPE: &str = "blocks";

/// A page of `actor`'s blocks, newest first (keyset on (createdAt, community DID)),
/// continuing after `after` (a cursor of this list). 400 `InvalidCursor` for another cursor.
pub async fn list_blocks(
    conn: &mut AsyncPgConnection,
    actor: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Block>, ApiError> {
    let after: Option<(i64, String)> = after.map(|raw| cursor::decode(raw, SCOPE)).transpose()?;
    let after_time = after
        .as_ref()
        .map(|(micros, _)| {
            DateTime::from_timestamp_micros(*micros)
                .ok_or_else(|| ApiError::invalid_cursor("cursor is not one this server issued"))
        })
        .transpose()?;
    let rows: Vec<Block> = sql_query(format!(
        "/* block::list_blocks */ SELECT {COLUMNS} FROM community_blocks \
         WHERE actor_did = $1 AND ($2::timestamptz IS NULL OR (created_at, community_did) < ($2, $3)) \
         ORDER BY created_at DESC, community_did DESC LIMIT $4"
    ))
    .bind::<Text, _>(actor)
    .bind::<Nullable<Timestamptz>, _>(after_time)
    .bind::<Nullable<Text>, _>(after.map(|(_, did)| did))
    .bind::<BigInt, _>(limit + 1)
    .load(conn)
    .await?;
    let (rows, has_more) = cursor::split_page(rows, usize::try_from(limit).unwrap_or(0));
    let items = rows
        .into_iter()
        .map(|b| Listed {
            cursor: cursor::encode(SCOPE, &(b.created_at.timestamp_micros(), &b.community_did)),
            item: b,
        })
        .collect();
    Ok(Page { items, has_more })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many communities `actor` blocks.
pub async fn count_blocks(conn: &mut AsyncPgConnection, actor: &str) -> QueryResult<i64> {
    let count: Count =
        sql_query("/* block::count_blocks */ SELECT count(*) AS n FROM community_blocks WHERE actor_did = $1")
            .bind::<Text, _>(actor)
            .get_result(conn)
            .await?;
    Ok(count.n)
}
