//! The `comment` plugin: `social.coves.community.comment` records, which live in the
//! commenter's repo, and exact live-comment counts per parent and per thread root,
//! maintained in the ingest transaction whatever the order of arrival; its XRPC write
//! procedures tell clients which record to write to their own PDS.
//!
//! Serves the `Comment` GraphQL type with nested `replies`, `Post.comments` and the
//! comment counters of posts; [`thread`] reads threads for GraphQL and the XRPC views
//! (which live in the `feed` plugin).

pub mod graphql;
mod ingest;
mod plan;
mod record;
pub mod schema;
pub mod service;
pub mod thread;
mod xrpc;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{CommitEvent, IngestTx, Plugin, Registrar, RegistrarError, XrpcMethod, async_trait};

/// The comment collection.
pub const COMMENT_COLLECTION: &str = "social.coves.community.comment";

static MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/comment");

/// Indexes comments and keeps `comment_counts` exact.
pub struct CommentPlugin;

#[async_trait]
impl Plugin for CommentPlugin {
    fn name(&self) -> &'static str {
        "comment"
    }

    /// Commenters become actors; threads hang off posts and rank by vote counts.
    fn depends_on(&self) -> &'static [&'static str] {
        &["actor", "post", "vote"]
    }

    fn collections(&self) -> &'static [&'static str] {
        &[COMMENT_COLLECTION]
    }

    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        Some(&MIGRATIONS)
    }

    async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        ingest::apply_comments(tx, batch).await
    }

    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    /// `social.coves.community.comment.create`, `.update` and `.delete`, which answer
    /// `WriteDirectlyToPDS`.
    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        xrpc::methods()
    }
}

coves_plugin_api::register_plugin!(CommentPlugin);

/// Every subject's stored (reply_count, thread_count), non-zero rows only: what benchmarks
/// and tests compare with a recount or a generator's expectation.
pub async fn stored_counts(
    conn: &mut coves_plugin_api::diesel_async::AsyncPgConnection,
) -> coves_plugin_api::diesel::QueryResult<std::collections::BTreeMap<String, (i64, i64)>> {
    use coves_plugin_api::diesel::sql_types::{BigInt, Text};
    use coves_plugin_api::diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        subject_uri: String,
        #[diesel(sql_type = BigInt)]
        replies: i64,
        #[diesel(sql_type = BigInt)]
        thread: i64,
    }
    let rows: Vec<Row> = coves_plugin_api::diesel::sql_query(
        "SELECT subject_uri, reply_count::bigint AS replies, thread_count::bigint AS thread FROM comment_counts \
         WHERE reply_count <> 0 OR thread_count <> 0",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.subject_uri, (r.replies, r.thread))).collect())
}
