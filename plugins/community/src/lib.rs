//! The `community` plugin: `social.coves.community.profile` records (rkey `self`, in each
//! community's own repo), their verified handles and `hostedBy` (COVES_API §2.6, §3.5),
//! GraphQL `community(id:)` and `communities(...)`, and the wire shapes of the XRPC
//! community views ([`views`], [`params`]), which the `feed` plugin serves with the
//! viewer's subscription and block.
//!
//! Ingest only stores profiles and marks them due for verification; a background task
//! resolves each community's handle from its DID and checks `hostedBy`, and only verified,
//! undeleted communities are readable. Other plugins resolve community identifiers with
//! [`resolve_community_param`] / [`resolve_community`] and read them with
//! [`find_community`] / [`find_communities`].

pub mod graphql;
mod hosting;
mod ingest;
pub mod params;
mod record;
pub mod schema;
mod service;
mod verify;
pub mod views;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{
    AccountEvent, BackgroundTask, CommitEvent, IdentityEvent, IngestTx, Plugin, Registrar, RegistrarError, async_trait,
};

pub use hosting::{Rejection, check_domain};
pub use service::{
    CommunityPage, CommunityRow, CommunitySort, ListQuery, VISIBLE, Visibility, count_communities, find_communities,
    find_community, list_communities, resolve_community, resolve_community_param,
};

/// The profile collection this plugin indexes.
pub const PROFILE_COLLECTION: &str = "social.coves.community.profile";

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/community");

/// Indexes community profiles, verifies them, and serves the community views.
pub struct CommunityPlugin;

#[async_trait]
impl Plugin for CommunityPlugin {
    fn name(&self) -> &'static str {
        "community"
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

    async fn on_identity(&self, tx: &mut IngestTx<'_>, events: &[IdentityEvent]) -> anyhow::Result<()> {
        ingest::apply_identity(tx, events).await
    }

    fn wants_account_events(&self) -> bool {
        true
    }

    /// Identity events only mark rows for a later check and account events only set the
    /// status (newest `time_us` wins); profile commits touch neither.
    fn orders_account_events_with_commits(&self) -> bool {
        false
    }

    async fn on_account(&self, tx: &mut IngestTx<'_>, events: &[AccountEvent]) -> anyhow::Result<()> {
        ingest::apply_account(tx, events).await
    }

    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    fn tasks(&self) -> Vec<BackgroundTask> {
        vec![BackgroundTask::new("community verification", verify::run)]
    }
}

coves_plugin_api::register_plugin!(CommunityPlugin);
