//! The `vote` plugin: `social.coves.feed.vote` records and exact up/down counts per
//! subject URI, maintained in the ingest transaction whatever the order of arrival.

mod ingest;
mod record;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{CommitEvent, IngestTx, Plugin, async_trait};

/// The vote collection.
pub const VOTE_COLLECTION: &str = "social.coves.feed.vote";

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/vote");

/// Indexes votes and keeps `vote_counts` exact.
pub struct VotePlugin;

#[async_trait]
impl Plugin for VotePlugin {
    fn name(&self) -> &'static str {
        "vote"
    }

    fn collections(&self) -> &'static [&'static str] {
        &[VOTE_COLLECTION]
    }

    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        Some(&MIGRATIONS)
    }

    async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        ingest::apply_votes(tx, batch).await
    }
}

coves_plugin_api::register_plugin!(VotePlugin);
