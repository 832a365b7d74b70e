//! The `actor` plugin: accounts and their `social.coves.actor.profile` records.

pub mod graphql;
mod ingest;
mod record;
pub mod schema;
mod service;
mod status;
mod verify;
mod xrpc;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{
    AccountEvent, BackgroundTask, CommitEvent, IdentityEvent, IngestTx, Plugin, Registrar, RegistrarError, XrpcMethod,
    async_trait,
};

pub use service::{ActorRow, find_actor, find_actor_by_did, find_actors_by_did, resolve_actor};

/// The profile collection this plugin indexes.
pub const PROFILE_COLLECTION: &str = "social.coves.actor.profile";

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/actor");

/// Indexes actor profiles, follows identity and account events, verifies handles, and
/// serves `actor(id:)` and `social.coves.actor.getProfile`.
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

    fn wants_identity_events(&self) -> bool {
        true
    }

    fn wants_account_events(&self) -> bool {
        true
    }

    /// Identity events only mark rows for a later check and account events only set the
    /// status (newest `time_us` wins); profile commits touch neither.
    fn orders_account_events_with_commits(&self) -> bool {
        false
    }

    async fn on_identity(&self, tx: &mut IngestTx<'_>, events: &[IdentityEvent]) -> anyhow::Result<()> {
        status::apply_identity(tx, events).await
    }

    async fn on_account(&self, tx: &mut IngestTx<'_>, events: &[AccountEvent]) -> anyhow::Result<()> {
        status::apply_account(tx, events).await
    }

    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        xrpc::methods()
    }

    fn tasks(&self) -> Vec<BackgroundTask> {
        vec![BackgroundTask::new("actor-identity-checks", verify::run)]
    }
}

coves_plugin_api::register_plugin!(ActorPlugin);
