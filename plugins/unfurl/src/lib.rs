//! The `unfurl` plugin: link previews of posts, resolved off the ingest path.
//!
//! The plugin observes post commits ([`Plugin::observed_collections`]): inside the ingest
//! transaction it only records which link each post previews and queues the link
//! (`unfurl_post_links`, `unfurl_queue`). A background task drains the queue with leases
//! and fetches each link through a guarded client (SSRF checks on every hop, timeouts,
//! a size cap, a token bucket per host), reading oEmbed for known providers and the
//! page's OpenGraph/Twitter-card/`<title>` otherwise, into `unfurl_cache` (failures too,
//! for a shorter time). A second task deletes expired rows. GraphQL reads the cache only:
//! `Post.linkPreview` and `Query.unfurl(url:)`. See ADR 0010.

pub mod cleanup;
pub mod fetch;
mod graphql;
mod ingest;
pub mod link;
pub mod parse;
pub mod store;
pub mod worker;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{
    BackgroundTask, CommitEvent, IngestTx, InstanceInfo, Plugin, Registrar, RegistrarError, async_trait,
};
use coves_plugin_post::POST_COLLECTION;

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/unfurl");

/// Link previews of posts.
pub struct UnfurlPlugin;

#[async_trait]
impl Plugin for UnfurlPlugin {
    fn name(&self) -> &'static str {
        "unfurl"
    }

    /// Reads `posts` after the post plugin wrote them; extends the `Post` type.
    fn depends_on(&self) -> &'static [&'static str] {
        &["post"]
    }

    /// Post commits, unless `UNFURL_ENABLED=false`: then the ingest does no unfurl work.
    fn observed_collections(&self, instance: &InstanceInfo) -> Vec<&'static str> {
        if instance.unfurl.enabled { vec![POST_COLLECTION] } else { Vec::new() }
    }

    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        Some(&MIGRATIONS)
    }

    async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        ingest::apply(tx, batch).await
    }

    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    fn tasks(&self) -> Vec<BackgroundTask> {
        vec![
            BackgroundTask::new("unfurl-fetch", worker::run),
            BackgroundTask::new("unfurl-cache-cleanup", cleanup::run),
        ]
    }
}

coves_plugin_api::register_plugin!(UnfurlPlugin);
