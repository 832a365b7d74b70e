//! Applying a batch of subscription commits: the shared community relation
//! (`coves_plugin_api::community_relation`) with `content_visibility` as its extra column.
//! The subscriber counts move with the relation rows, by triggers (see the migration).

use std::future::Future;
use std::pin::Pin;

use coves_plugin_api::community_relation::{ExtraColumn, Relation};
use coves_plugin_api::diesel::QueryResult;
use coves_plugin_api::diesel_async::AsyncPgConnection;
use coves_plugin_api::identifiers::CommunityId;
use coves_plugin_api::{CommitEvent, IngestTx};

use crate::record::clamp_visibility;

pub const SUBSCRIPTIONS: Relation = Relation {
    name: "subscription",
    records_table: "community_subscription_records",
    relation_table: "community_subscriptions",
    extra_columns: &[ExtraColumn {
        column: "content_visibility",
        read: |r| clamp_visibility(r.get("contentVisibility")),
    }],
    resolve,
};

fn resolve<'c>(
    conn: &'c mut AsyncPgConnection,
    id: &'c CommunityId,
) -> Pin<Box<dyn Future<Output = QueryResult<Option<String>>> + Send + 'c>> {
    Box::pin(coves_plugin_community::resolve_community(conn, id))
}

/// Applies a batch of `social.coves.community.subscription` commits and announces the
/// communities whose subscriber count changed (by their DID).
pub async fn apply_subscriptions(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    for community in SUBSCRIPTIONS.apply(tx, batch).await? {
        tx.subject_changed(community);
    }
    Ok(())
}
