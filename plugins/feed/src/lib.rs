//! The `feed` plugin: the views that join several plugins' tables (COVES_API §4, §5).
//!
//! - The post feeds ([`feeds`]): a community's, the viewer's timeline (subscriptions
//!   weighted by `contentVisibility`, see [`score_levels`]) and discover, minus blocked
//!   communities; GraphQL `feed(kind: ...)` and the XRPC feed methods.
//! - The XRPC views: `PostView` with its author, community, vote and comment counts and
//!   the viewer's vote and subscription; comment threads; community views with the
//!   viewer's subscription and block. Each view reads every joined table once per page,
//!   whatever the page size.
//!
//! It owns no records: it reads what the `post`, `comment`, `vote`, `actor`, `community`,
//! `subscription` and `block` plugins index. Its one table holds the per-community score
//! percentiles of the timeline's visibility rule.

pub mod feeds;
mod graphql;
pub mod score_levels;
mod views;
mod xrpc;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{BackgroundTask, Plugin, Registrar, RegistrarError, XrpcMethod, async_trait};

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/feed");

/// Serves the feeds and the joined XRPC views.
pub struct FeedPlugin;

#[async_trait]
impl Plugin for FeedPlugin {
    fn name(&self) -> &'static str {
        "feed"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["actor", "block", "comment", "community", "post", "subscription", "vote"]
    }

    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        Some(&MIGRATIONS)
    }

    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        xrpc::methods()
    }

    /// Recomputes the timeline's score percentiles periodically.
    fn tasks(&self) -> Vec<BackgroundTask> {
        vec![BackgroundTask::new("timeline score levels", score_levels::run)]
    }
}

coves_plugin_api::register_plugin!(FeedPlugin);
