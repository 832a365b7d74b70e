//! The `block` plugin: `social.coves.community.block` records, which live in the blocker's
//! repo, and which communities each user blocks (COVES_API §2.3): blocked while at least
//! one live record names the community. Blocks filter the viewer's feeds and show in
//! community viewer state.
//!
//! Serves `Community.viewerBlocked`, `Community.viewerBlock` and `Actor.blockedCommunities`
//! in GraphQL, the `blockCommunity`/`unblockCommunity` write procedures (which answer
//! `WriteDirectlyToPDS`), and the reads the feeds use ([`viewer_blocks`],
//! [`blocked_communities`]).

pub mod graphql;
mod ingest;
pub mod service;
mod xrpc;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{CommitEvent, IngestTx, Plugin, Registrar, RegistrarError, XrpcMethod, async_trait};

pub use service::{Block, blocked_communities, viewer_blocks};

/// The block collection.
pub const BLOCK_COLLECTION: &str = "social.coves.community.block";

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/block");

/// Indexes community blocks.
pub struct BlockPlugin;

#[async_trait]
impl Plugin for BlockPlugin {
    fn name(&self) -> &'static str {
        "block"
    }

    /// Blockers become actors; subjects are communities (resolved, shown).
    fn depends_on(&self) -> &'static [&'static str] {
        &["actor", "community"]
    }

    fn collections(&self) -> &'static [&'static str] {
        &[BLOCK_COLLECTION]
    }

    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        Some(&MIGRATIONS)
    }

    async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        ingest::apply_blocks(tx, batch).await
    }

    /// `Community.viewerBlocked`, `Community.viewerBlock`, `Actor.blockedCommunities` and
    /// `CommunityBlock`.
    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    /// `social.coves.community.blockCommunity` and `.unblockCommunity`, which answer
    /// `WriteDirectlyToPDS`.
    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        xrpc::methods()
    }
}

coves_plugin_api::register_plugin!(BlockPlugin);
