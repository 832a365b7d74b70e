//! The `vote` plugin: `social.coves.feed.vote` records and exact up/down counts per
//! subject URI, maintained in the ingest transaction whatever the order of arrival; its
//! XRPC write procedures tell clients which record to write to their own PDS.

pub mod graphql;
mod ingest;
mod record;
pub mod service;
mod xrpc;

use coves_plugin_api::diesel_migrations::{EmbeddedMigrations, embed_migrations};
use coves_plugin_api::{CommitEvent, IngestTx, Plugin, Registrar, RegistrarError, XrpcMethod, async_trait};

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

    /// `upvotes`, `downvotes`, `score` and `viewerVote` on every votable type.
    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        graphql::register(registrar)
    }

    /// `social.coves.feed.vote.create` and `.delete`, which answer `WriteDirectlyToPDS`.
    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        xrpc::methods()
    }
}

coves_plugin_api::register_plugin!(VotePlugin);

/// Every subject's stored (upvotes, downvotes), subjects with votes only: what benchmarks
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
        up: i64,
        #[diesel(sql_type = BigInt)]
        down: i64,
    }
    let rows: Vec<Row> = coves_plugin_api::diesel::sql_query(
        "SELECT subject_uri, upvotes::bigint AS up, downvotes::bigint AS down FROM vote_counts \
         WHERE upvotes <> 0 OR downvotes <> 0",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.subject_uri, (r.up, r.down))).collect())
}
