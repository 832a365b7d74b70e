//! Reads of indexed votes, shared by the XRPC handlers (and, later, GraphQL viewer fields).

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::QueryResult;
use coves_plugin_api::diesel::sql_types::{Nullable, SmallInt, Text, Timestamptz};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::VOTE_COLLECTION;

/// A voter's effective vote on a subject (COVES_API §2.1).
#[derive(Clone, Debug, PartialEq, Eq, diesel::QueryableByName)]
pub struct EffectiveVote {
    /// The vote record's rkey (a TID).
    #[diesel(sql_type = Text)]
    pub rkey: String,
    /// 1 = up, -1 = down.
    #[diesel(sql_type = SmallInt)]
    pub direction: i16,
    /// The record's `createdAt` (its indexing time when unparseable).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub created_at: Option<DateTime<Utc>>,
}

impl EffectiveVote {
    /// `up` or `down`, as in the record.
    pub fn direction_name(&self) -> &'static str {
        if self.direction > 0 { "up" } else { "down" }
    }

    /// The vote record's AT-URI in `voter`'s repo.
    pub fn uri(&self, voter: &str) -> String {
        format!("at://{voter}/{VOTE_COLLECTION}/{}", self.rkey)
    }
}

/// The effective vote of `voter` on `subject_uri`: of the voter's live (not deleted) votes
/// on it, the one with the greatest (createdAt, rkey), the same order the counters use.
/// One probe of the `votes_live_by_pair` index. `None` when the voter has no live vote
/// there (or none indexed yet).
pub async fn effective_vote(
    conn: &mut AsyncPgConnection,
    voter: &str,
    subject_uri: &str,
) -> QueryResult<Option<EffectiveVote>> {
    let mut rows: Vec<EffectiveVote> = coves_plugin_api::diesel::sql_query(
        "/* vote::effective_vote */ SELECT rkey, direction, created_at FROM votes \
         WHERE subject_uri = $1 AND voter = $2 AND NOT deleted \
         ORDER BY created_at DESC, rkey DESC LIMIT 1",
    )
    .bind::<Text, _>(subject_uri)
    .bind::<Text, _>(voter)
    .load(conn)
    .await?;
    Ok(rows.pop())
}
