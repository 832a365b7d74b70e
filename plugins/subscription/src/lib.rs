//! The `subscription` plugin: `social.coves.community.subscription` records, which live in
//! the subscriber's repo, and who is subscribed to which community (COVES_API §2.2): a
//! user is subscribed while at least one live record names the community, with the
//! `contentVisibility` of the newest one. `communities.subscriber_count` is kept exact by
//! triggers on `community_subscriptions`, whatever the order of arrival.
//!
//! Serves `Community.viewerSubscription` and `Actor.subscriptions` in GraphQL, the
//! `subscribe`/`unsubscribe` write procedures (which answer `WriteDirectlyToPDS`), and the
//! reads the feeds use ([`viewer_subscriptions`], [`subscribed_communities`]).

pub mod graphql;
mod ingest;
mod record;
pub mod service;
mod xrpc;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{CommitEvent, IngestTx, Plugin, Registrar, RegistrarError, XrpcMethod, async_trait};

pub use record::clamp_visibility;
pub use service::{Subscription, subscribed_communities, viewer_subscriptions};

/// The subscription collection.
pub const SUBSCRIPTION_COLLECTION: &str = "social.coves.community.subscription";

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/subscription");

/// Indexes subscriptions and keeps subscriber counts exact.
pub struct SubscriptionPlugin;

#[async_trait]
impl Plugin for SubscriptionPlugin {
    fn name(&self) -> &'static str {
        "subscription"
    }

    /// Subscribers become actors; subjects are communities (resolved, counted, shown).
    fn depends_on(&self) -> &'static [&'static str] {
        &["actor", "community"]
    }

    fn collections(&self) -> &'static [&'static str] {
        &[SUBSCRIPTION_COLLECTION]
    }

    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        Some(&MIGRATIONS)
    }

    async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        ingest::apply_subscriptions(tx, batch).await
    }

    /// `Community.viewerSubscription`, `Actor.subscriptions` and `CommunitySubscription`.
    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    /// `social.coves.community.subscribe` and `.unsubscribe`, which answer `WriteDirectlyToPDS`.
    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        xrpc::methods()
    }
}

coves_plugin_api::register_plugin!(SubscriptionPlugin);
