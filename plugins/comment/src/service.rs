//! Reads of indexed comments, shared by the plugin's procedures, GraphQL and the views.

use coves_plugin_api::diesel::sql_types::{Jsonb, Text};
use coves_plugin_api::diesel::{QueryResult, QueryableByName};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

/// The current version of a live comment.
#[derive(Clone, Debug, PartialEq, diesel::QueryableByName)]
pub struct CurrentVersion {
    /// The repo it lives in.
    #[diesel(sql_type = Text)]
    pub commenter_did: String,
    /// The version's CID (what `swapRecord` names).
    #[diesel(sql_type = Text)]
    pub cid: String,
    /// The record as received.
    #[diesel(sql_type = Jsonb)]
    pub record: Value,
}

/// The indexed version of the comment at `uri`; `None` when it is not indexed or deleted.
pub async fn current_version(conn: &mut AsyncPgConnection, uri: &str) -> QueryResult<Option<CurrentVersion>> {
    let mut rows: Vec<CurrentVersion> = coves_plugin_api::diesel::sql_query(
        "/* comment::current_version */ SELECT commenter_did, cid, record FROM comments \
         WHERE uri = $1 AND NOT deleted AND cid IS NOT NULL AND record IS NOT NULL",
    )
    .bind::<Text, _>(uri)
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// A post's or comment's comment counters (COVES_API §7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, diesel::QueryableByName)]
pub struct CommentCounts {
    /// Live comments replying directly to the subject: a post's `commentCount`, a
    /// comment's `replyCount`.
    #[diesel(sql_type = coves_plugin_api::diesel::sql_types::Integer)]
    pub reply_count: i32,
    /// Live comments whose thread root is the subject: a post's `totalCommentCount`.
    #[diesel(sql_type = coves_plugin_api::diesel::sql_types::Integer)]
    pub thread_count: i32,
}

#[derive(QueryableByName)]
struct SubjectCounts {
    #[diesel(sql_type = Text)]
    subject_uri: String,
    #[diesel(embed)]
    counts: CommentCounts,
}

/// The comment counters of `subjects` (subjects without comments are absent: 0).
pub async fn comment_counts(
    conn: &mut AsyncPgConnection,
    subjects: &[&str],
) -> QueryResult<std::collections::HashMap<String, CommentCounts>> {
    let rows: Vec<SubjectCounts> = coves_plugin_api::diesel::sql_query(
        "/* comment::comment_counts */ SELECT subject_uri, reply_count, thread_count FROM comment_counts \
         WHERE subject_uri = ANY($1)",
    )
    .bind::<coves_plugin_api::diesel::sql_types::Array<Text>, _>(subjects)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.subject_uri, r.counts)).collect())
}
