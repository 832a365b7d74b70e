//! The `actor` plugin: accounts and their `social.coves.actor.profile` records.

mod graphql;
mod ingest;
mod record;
pub mod schema;
mod service;
mod xrpc;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{CommitEvent, IngestTx, Plugin, Registrar, RegistrarError, XrpcMethod, async_trait};

pub use service::{ActorRow, find_actor};

/// The profile collection this plugin indexes.
pub const PROFILE_COLLECTION: &str = "social.coves.actor.profile";

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/actor");

/// Indexes actor profiles and serves `actor(id:)` and `social.coves.actor.getProfile`.
pub struct ActorPlugin;

#[async_trait]
impl Plugin for ActorPlugin {
    fn name(&self) -> &'static str {
        "actor"
    }

    fn collections(&self) -> &'static [&'static str] {
        &[PROFILE_COLLECTION]
    }

    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        Some(&MIGRATIONS)
    }

    async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        ingest::apply_profiles(tx, batch).await
    }

    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        xrpc::methods()
    }
}

coves_plugin_api::register_plugin!(ActorPlugin);
