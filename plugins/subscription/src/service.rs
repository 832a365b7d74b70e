//! Reads of who is subscribed to what, shared by GraphQL, XRPC and the feed plugin.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::ApiError;
use coves_plugin_api::cursor::{self, Listed, Page};
use coves_plugin_api::diesel::sql_types::{Array, BigInt, Nullable, SmallInt, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryResult, QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::SUBSCRIPTION_COLLECTION;

/// The columns [`Subscription`] reads from `community_subscriptions`.
const COLUMNS: &str = "community_did, rkey, content_visibility, created_at";

/// A user's subscription to a community: the newest of the user's live subscription
/// records for it (COVES_API §2.2).
#[derive(Clone, Debug, PartialEq, Eq, QueryableByName)]
pub struct Subscription {
    #[diesel(sql_type = Text)]
    pub community_did: String,
    /// The record's key (a TID).
    #[diesel(sql_type = Text)]
    pub rkey: String,
    /// 1 (only the community's best posts) to 5 (everything).
    #[diesel(sql_type = SmallInt)]
    pub content_visibility: i16,
    /// The record's createdAt (its event time when unparseable).
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

impl Subscription {
    /// The record's AT-URI in the subscriber's repo.
    pub fn uri(&self, actor_did: &str) -> String {
        format!("at://{actor_did}/{SUBSCRIPTION_COLLECTION}/{}", self.rkey)
    }
}

/// The viewer's subscriptions among `community_dids`, by community DID (communities the
/// viewer is not subscribed to are absent). One primary-key probe per community.
pub async fn viewer_subscriptions(
    conn: &mut AsyncPgConnection,
    viewer: &str,
    community_dids: &[&str],
) -> QueryResult<HashMap<String, Subscription>> {
    if community_dids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Subscription> = sql_query(format!(
        "/* subscription::viewer_subscriptions */ SELECT {COLUMNS} FROM community_subscriptions \
         WHERE actor_did = $1 AND community_did = ANY($2)"
    ))
    .bind::<Text, _>(viewer)
    .bind::<Array<Text>, _>(community_dids)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|s| (s.community_did.clone(), s)).collect())
}

/// Every subscription of the viewer, newest first (whether or not the community is
/// indexed yet): what a home timeline is made of.
pub async fn subscribed_communities(conn: &mut AsyncPgConnection, viewer: &str) -> QueryResult<Vec<Subscription>> {
    sql_query(format!(
        "/* subscription::subscribed_communities */ SELECT {COLUMNS} FROM community_subscriptions \
         WHERE actor_did = $1 ORDER BY created_at DESC, community_did DESC"
    ))
    .bind::<Text, _>(viewer)
    .load(conn)
    .await
}

/// The cursor scope of [`list_subscriptions`].
const SCOPE: &str = "subscriptions";

/// A page of `actor`'s subscriptions, newest first (keyset on (createdAt, community DID)),
/// continuing after `after` (a cursor of this list). 400 `InvalidCursor` for another cursor.
pub async fn list_subscriptions(
    conn: &mut AsyncPgConnection,
    actor: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Subscription>, ApiError> {
    let after: Option<(i64, String)> = after.map(|raw| cursor::decode(raw, SCOPE)).transpose()?;
    let after_time = after
        .as_ref()
        .map(|(micros, _)| {
            DateTime::from_timestamp_micros(*micros)
                .ok_or_else(|| ApiError::invalid_cursor("cursor is not one this server issued"))
        })
        .transpose()?;
    let rows: Vec<Subscription> = sql_query(format!(
        "/* subscription::list_subscriptions */ SELECT {COLUMNS} FROM community_subscriptions \
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
        .map(|s| Listed {
            cursor: cursor::encode(SCOPE, &(s.created_at.timestamp_micros(), &s.community_did)),
            item: s,
        })
        .collect();
    Ok(Page { items, has_more })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many communities `actor` is subscribed to.
pub async fn count_subscriptions(conn: &mut AsyncPgConnection, actor: &str) -> QueryResult<i64> {
    let count: Count = sql_query(
        "/* subscription::count_subscriptions */ SELECT count(*) AS n FROM community_subscriptions WHERE actor_did = $1",
    )
    .bind::<Text, _>(actor)
    .get_result(conn)
    .await?;
    Ok(count.n)
}
