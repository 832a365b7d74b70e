//! The `post` plugin: `social.coves.community.post` records, which live in the
//! **community's** repo (`author` names the user), and the communities' live post counts.
//!
//! Serves GraphQL `post(uri:)` and `posts(...)` (ranked, paginated) and the `Post` type,
//! to which other plugins add fields (votes, comments). The XRPC views, which join posts
//! with authors, communities, votes and comments, live in the `feed` plugin.

pub mod graphql;
mod ingest;
mod record;
pub mod service;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{CommitEvent, IngestTx, Plugin, Registrar, RegistrarError, async_trait};

/// The post collection.
pub const POST_COLLECTION: &str = "social.coves.community.post";

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/post");

/// Indexes posts and keeps `communities.post_count` exact.
pub struct PostPlugin;

#[async_trait]
impl Plugin for PostPlugin {
    fn name(&self) -> &'static str {
        "post"
    }

    /// Authors become actors; post counts live on communities; ranking reads vote counts.
    fn depends_on(&self) -> &'static [&'static str] {
        &["actor", "community", "vote"]
    }

    fn collections(&self) -> &'static [&'static str] {
        &[POST_COLLECTION]
    }

    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        Some(&MIGRATIONS)
    }

    async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        ingest::apply_posts(tx, batch).await
    }

    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }
}

coves_plugin_api::register_plugin!(PostPlugin);
