//! Reads of indexed votes, shared by the XRPC views and the GraphQL fields.

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::sql_types::{Array, Integer, Nullable, SmallInt, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryResult, QueryableByName};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::VOTE_COLLECTION;

/// A voter's effective vote on a subject (COVES_API §2.1).
#[derive(Clone, Debug, PartialEq, Eq, QueryableByName)]
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

/// A subject's effective up- and downvotes (COVES_API §7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, QueryableByName)]
pub struct VoteCounts {
    #[diesel(sql_type = Integer)]
    pub upvotes: i32,
    #[diesel(sql_type = Integer)]
    pub downvotes: i32,
}

impl VoteCounts {
    /// `upvotes − downvotes`; may be negative.
    pub fn score(&self) -> i64 {
        i64::from(self.upvotes) - i64::from(self.downvotes)
    }
}

#[derive(QueryableByName)]
struct SubjectCounts {
    #[diesel(sql_type = Text)]
    subject_uri: String,
    #[diesel(embed)]
    counts: VoteCounts,
}

/// The vote counts of `subjects` (subjects without votes are absent: their counts are 0).
pub async fn vote_counts(
    conn: &mut AsyncPgConnection,
    subjects: &[&str],
) -> QueryResult<std::collections::HashMap<String, VoteCounts>> {
    let rows: Vec<SubjectCounts> = coves_plugin_api::diesel::sql_query(
        "/* vote::vote_counts */ SELECT subject_uri, upvotes, downvotes FROM vote_counts WHERE subject_uri = ANY($1)",
    )
    .bind::<Array<Text>, _>(subjects)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.subject_uri, r.counts)).collect())
}

#[derive(QueryableByName)]
struct PairVote {
    #[diesel(sql_type = Text)]
    voter: String,
    #[diesel(sql_type = Text)]
    subject_uri: String,
    #[diesel(embed)]
    vote: EffectiveVote,
}

/// The effective votes of many (voter, subject) pairs at once, one index probe each;
/// pairs without a live vote are absent.
pub async fn effective_votes(
    conn: &mut AsyncPgConnection,
    pairs: &[(String, String)],
) -> QueryResult<std::collections::HashMap<(String, String), EffectiveVote>> {
    let voters: Vec<&str> = pairs.iter().map(|(v, _)| v.as_str()).collect();
    let subjects: Vec<&str> = pairs.iter().map(|(_, s)| s.as_str()).collect();
    let rows: Vec<PairVote> = coves_plugin_api::diesel::sql_query(
        "/* vote::effective_votes */ SELECT k.voter, k.subject_uri, e.rkey, e.direction, e.created_at \
         FROM unnest($1::text[], $2::text[]) AS k(voter, subject_uri) \
         CROSS JOIN LATERAL (SELECT rkey, direction, created_at FROM votes v \
           WHERE v.subject_uri = k.subject_uri AND v.voter = k.voter AND NOT v.deleted \
           ORDER BY v.created_at DESC, v.rkey DESC LIMIT 1) e",
    )
    .bind::<Array<Text>, _>(&voters)
    .bind::<Array<Text>, _>(&subjects)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| ((r.voter, r.subject_uri), r.vote)).collect())
}
