//! Applying a batch of block commits: the shared community relation
//! (`coves_plugin_api::community_relation`), without extra columns and without counters.

use std::future::Future;
use std::pin::Pin;

use coves_plugin_api::community_relation::Relation;
use coves_plugin_api::diesel::QueryResult;
use coves_plugin_api::diesel_async::AsyncPgConnection;
use coves_plugin_api::identifiers::CommunityId;
use coves_plugin_api::{CommitEvent, IngestTx};

pub const BLOCKS: Relation = Relation {
    name: "block",
    records_table: "community_block_records",
    relation_table: "community_blocks",
    extra_columns: &[],
    resolve,
};

fn resolve<'c>(
    conn: &'c mut AsyncPgConnection,
    id: &'c CommunityId,
) -> Pin<Box<dyn Future<Output = QueryResult<Option<String>>> + Send + 'c>> {
    Box::pin(coves_plugin_community::resolve_community(conn, id))
}

/// Applies a batch of `social.coves.community.block` commits. Blocks count nowhere, so
/// no subject is announced.
pub async fn apply_blocks(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    BLOCKS.apply(tx, batch).await?;
    Ok(())
}
