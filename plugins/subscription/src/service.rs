//! Reads of who is subscribed to what, shared by GraphQL, XRPC and the feed plugin (the
//! shared relation reads of `community_relation`, typed).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::community_relation::RelationRow;
use coves_plugin_api::diesel::sql_types::{SmallInt, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryResult, QueryableByName};
use coves_plugin_api::diesel_async::AsyncPgConnection;

use crate::SUBSCRIPTION_COLLECTION;
use crate::ingest::SUBSCRIPTIONS;

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

impl RelationRow for Subscription {
    const COLUMNS: &'static str = "community_did, rkey, content_visibility, created_at";

    fn community_did(&self) -> &str {
        &self.community_did
    }

    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

/// The viewer's subscriptions among `community_dids`, by community DID (communities the
/// viewer is not subscribed to are absent).
pub async fn viewer_subscriptions(
    conn: &mut AsyncPgConnection,
    viewer: &str,
    community_dids: &[&str],
) -> QueryResult<HashMap<String, Subscription>> {
    SUBSCRIPTIONS.rows_for(conn, viewer, community_dids).await
}

/// Every subscription of the viewer, newest first (whether or not the community is
/// indexed yet): what a home timeline is made of.
pub async fn subscribed_communities(conn: &mut AsyncPgConnection, viewer: &str) -> QueryResult<Vec<Subscription>> {
    SUBSCRIPTIONS.all_of(conn, viewer).await
}
