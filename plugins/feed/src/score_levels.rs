//! How a subscription's `contentVisibility` (1–5) weights the timeline (COVES_API §2.2,
//! §4.5). The rule, defined here once:
//!
//! > At level *v* the timeline shows a community's posts whose score reaches the best
//! > share(*v*) of that community's live posts of the last 30 days: level 1 the top 10 %,
//! > 2 the top 25 %, 3 (the default) the top 50 %, 4 the top 75 %, and 5 every post.
//!
//! The share is relative to each community, so a small community's best posts surface as
//! readily as a large one's. The minimum score of a level is that of the community's
//! k-th best post, k = ⌈share × posts⌉; ties with it pass too, so a level shows at least
//! its share (a community whose posts all score the same shows them all). The percentiles live in `community_score_levels`,
//! recomputed by a background task every [`REFRESH_EVERY`]; a community without a row
//! (no posts in the window yet) shows every post at every level.

use std::collections::HashMap;
use std::time::Duration;

use coves_plugin_api::diesel::sql_types::{Array, Integer, Text};
use coves_plugin_api::diesel::{QueryResult, QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use coves_plugin_api::{TaskContext, task};

/// The most selective level (only the best posts).
pub const MIN_LEVEL: i16 = 1;
/// The level that shows every post.
pub const ALL_POSTS: i16 = 5;

/// How often the percentiles are recomputed.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

/// The lowest score a post of a community with `levels` needs at `level`; `None`: any.
pub fn min_score(levels: Option<&[i32]>, level: i16) -> Option<i32> {
    let index = usize::try_from(level.clamp(MIN_LEVEL, ALL_POSTS) - MIN_LEVEL).ok()?;
    levels?.get(index).copied()
}

#[derive(QueryableByName)]
struct LevelsRow {
    #[diesel(sql_type = Text)]
    community_did: String,
    #[diesel(sql_type = Array<Integer>)]
    min_scores: Vec<i32>,
}

/// The stored minimum scores (levels 1–4) of `communities` that have them.
pub async fn score_levels(
    conn: &mut AsyncPgConnection,
    communities: &[&str],
) -> QueryResult<HashMap<String, Vec<i32>>> {
    if communities.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<LevelsRow> = sql_query(
        "/* feed::score_levels */ SELECT community_did, min_scores FROM community_score_levels \
         WHERE community_did = ANY($1)",
    )
    .bind::<Array<Text>, _>(communities)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.community_did, r.min_scores)).collect())
}

/// Recomputes every community's percentiles from its live posts of the last 30 days, and
/// drops the rows of communities with none. Returns how many communities have levels.
/// Several server processes may run it at once; one does the work, the others skip.
pub async fn refresh_score_levels(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    #[derive(QueryableByName)]
    struct Refreshed {
        #[diesel(sql_type = coves_plugin_api::diesel::sql_types::Bool)]
        locked: bool,
    }
    conn.transaction::<_, coves_plugin_api::diesel::result::Error, _>(async |conn| {
        let lock: Refreshed =
            sql_query("SELECT pg_try_advisory_xact_lock(hashtext('feed::refresh_score_levels')::bigint) AS locked")
                .get_result(conn)
                .await?;
        if !lock.locked {
            return Ok(0);
        }
        sql_query(
            "/* feed::refresh_score_levels */ WITH levels AS ( \
                   SELECT community_did, count(*)::int AS posts, \
                     percentile_disc(ARRAY[0.1, 0.25, 0.5, 0.75]::float8[]) WITHIN GROUP (ORDER BY score DESC) \
                       AS min_scores \
                   FROM posts WHERE NOT deleted AND sort_at >= now() - interval '30 days' GROUP BY community_did), \
                 gone AS (DELETE FROM community_score_levels l \
                   WHERE NOT EXISTS (SELECT 1 FROM levels WHERE levels.community_did = l.community_did)) \
                 INSERT INTO community_score_levels (community_did, min_scores, posts, refreshed_at) \
                 SELECT community_did, min_scores, posts, now() FROM levels \
                 ON CONFLICT (community_did) DO UPDATE SET min_scores = excluded.min_scores, \
                   posts = excluded.posts, refreshed_at = excluded.refreshed_at",
        )
        .execute(conn)
        .await
    })
    .await
}

/// The background task: refreshes at start, then every [`REFRESH_EVERY`].
pub async fn run(ctx: TaskContext) -> anyhow::Result<()> {
    task::poll_rounds(&ctx.shutdown, REFRESH_EVERY, || async {
        let refreshed = async {
            let mut conn = ctx.app.pool.get().await?;
            anyhow::Ok(refresh_score_levels(&mut conn).await?)
        };
        match refreshed.await {
            Ok(communities) => tracing::debug!(communities, "timeline score levels refreshed"),
            Err(error) => tracing::warn!(%error, "refreshing the timeline score levels failed; retrying later"),
        }
        false
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_pick_their_percentile() {
        let levels = [40, 12, 3, 0];
        assert_eq!(min_score(Some(&levels), 1), Some(40));
        assert_eq!(min_score(Some(&levels), 3), Some(3));
        assert_eq!(min_score(Some(&levels), 4), Some(0));
        assert_eq!(min_score(Some(&levels), 5), None, "level 5 shows every post");
        assert_eq!(min_score(Some(&levels), 0), Some(40), "clamped to 1");
        assert_eq!(min_score(Some(&levels), 9), None, "clamped to 5");
        assert_eq!(min_score(None, 1), None, "no levels yet: every post");
    }
}
