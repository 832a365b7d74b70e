//! Reads of which communities users block, shared by GraphQL, XRPC and the feed plugin
//! (the shared relation reads of `community_relation`, typed).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::community_relation::RelationRow;
use coves_plugin_api::diesel::sql_types::{Text, Timestamptz};
use coves_plugin_api::diesel::{QueryResult, QueryableByName};
use coves_plugin_api::diesel_async::AsyncPgConnection;

use crate::BLOCK_COLLECTION;
use crate::ingest::BLOCKS;

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

impl RelationRow for Block {
    const COLUMNS: &'static str = "community_did, rkey, created_at";

    fn community_did(&self) -> &str {
        &self.community_did
    }

    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

/// The viewer's blocks among `community_dids`, by community DID (communities the viewer
/// does not block are absent).
pub async fn viewer_blocks(
    conn: &mut AsyncPgConnection,
    viewer: &str,
    community_dids: &[&str],
) -> QueryResult<HashMap<String, Block>> {
    BLOCKS.rows_for(conn, viewer, community_dids).await
}

/// Every community the viewer blocks, newest block first (whether or not the community
/// is indexed yet): what feeds leave out.
pub async fn blocked_communities(conn: &mut AsyncPgConnection, viewer: &str) -> QueryResult<Vec<Block>> {
    BLOCKS.all_of(conn, viewer).await
}
