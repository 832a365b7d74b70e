//! The data set: communities, actors, posts, comment threads and votes, generated and
//! loaded with SQL (`INSERT … SELECT` over `generate_series`) in one transaction. The
//! ingest has its own benchmark; going around it loads millions of rows in minutes.
//!
//! Every random choice hashes the row number (`hashint8extended(n, stream)`, one stream
//! per choice), so the same sizes always give the same data, and times are relative to
//! the start of the load so hot ranks look like a live forum's. Shapes:
//! - communities are all readable (verified handle `c-topicN.bench.test`, active);
//! - actors are active, with verified handles and profiles;
//! - posts pick their community with a skew (`floor(count·u²)` for a uniform `u`:
//!   community `k` gets a share ∝ 1/√k, the largest ~3% of the posts, the smallest
//!   ~0.05%), a uniform author, and a creation time uniform over the last 60 days;
//! - comments form threads of up to six levels: 40% reply to a post, the rest to a
//!   comment of the level above (both picked with the same skew, so some threads are
//!   large), a little after their parent; 2% are deleted placeholders;
//! - votes go 70% to posts and 30% to comments, dealt with the same skew by number (the
//!   posts with most comments get most votes too, and top-level comments more than
//!   replies), ~80% up, each by a different voter on its subject (so each is effective);
//! - `vote_counts`, `comment_counts` and `communities.post_count` are computed from the
//!   rows by GROUP BY, so they equal a recount;
//! - every actor subscribes to `--subscriptions-per-actor` communities and blocks
//!   `--blocks-per-actor` others, all distinct, picked with the posts' skew (so the large
//!   communities have the most subscribers): a subscription's `contentVisibility` is 3 for
//!   half of them, 1, 2, 4 or 5 for an eighth each. Both the records and the relation rows
//!   are written, one live record per pair, as the ingest leaves them;
//!   `communities.subscriber_count` is kept by the subscription plugin's triggers and
//!   checked against a recount. After the load, the timeline's score levels are computed
//!   by the feed plugin's own refresh.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use diesel::sql_types::{Array, BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

/// The domain of the generated handles and of the server's `INSTANCE_DOMAIN`.
pub const DOMAIN: &str = "bench.test";

/// How many rows of each kind.
#[derive(Args, Clone, Copy, Debug)]
pub struct Sizes {
    /// Communities to generate (all readable).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub communities: i64,
    /// Actors (accounts) to generate; authors, commenters and voters are drawn from them.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub actors: i64,
    /// Posts to generate.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub posts: i64,
    /// Votes to generate (70% on posts, 30% on comments).
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(i64).range(0..))]
    pub votes: i64,
    /// Comments to generate.
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub comments: i64,
    /// Communities each actor subscribes to (distinct, skewed toward the large ones).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(0..))]
    pub subscriptions_per_actor: i64,
    /// Communities each actor blocks (distinct, none of those it subscribes to).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(0..))]
    pub blocks_per_actor: i64,
}

/// How long each step of a load took.
pub struct LoadFigures {
    steps: Vec<(&'static str, Duration)>,
}

impl LoadFigures {
    /// Runs step `name` and records how long it took.
    async fn time(&mut self, name: &'static str, step: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
        let started = Instant::now();
        step.await?;
        let took = started.elapsed();
        eprintln!("load: {name} in {:.1} s", took.as_secs_f64());
        self.steps.push((name, took));
        Ok(())
    }

    pub fn total(&self) -> Duration {
        self.steps.iter().map(|(_, d)| *d).sum()
    }

    /// `name N s, …`.
    pub fn steps(&self) -> String {
        let steps: Vec<String> =
            self.steps.iter().map(|(name, d)| format!("{name} {:.0} s", d.as_secs_f64())).collect();
        steps.join(", ")
    }
}

/// How long generated posts span, and after a parent its replies and votes come.
const POST_SPAN_DAYS: i64 = 60;
const REPLY_DELAY_DAYS: i64 = 2;
const VOTE_DELAY_DAYS: i64 = 7;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Share of comments at each thread level (level 1 replies to the post).
const LEVEL_SHARES: [f64; 6] = [0.40, 0.25, 0.15, 0.10, 0.06, 0.04];
/// Share of votes cast on posts (the rest on comments).
const POST_VOTE_SHARE: f64 = 0.7;

/// How long before the load subscriptions and blocks were created (uniformly).
const RELATION_SPAN_DAYS: i64 = 90;

/// The tables the load fills: their secondary indexes are built once after it.
const TABLES: [&str; 11] = [
    "actors",
    "communities",
    "posts",
    "comments",
    "comment_counts",
    "votes",
    "vote_counts",
    "community_subscription_records",
    "community_subscriptions",
    "community_block_records",
    "community_blocks",
];

/// Generates the data set into the freshly migrated database at `url`, vacuums and
/// analyzes it, then computes the timeline's score levels.
pub async fn load(url: &str, sizes: &Sizes) -> anyhow::Result<LoadFigures> {
    let mut conn = AsyncPgConnection::establish(url).await.context("connecting to the benchmark database")?;
    let reference_us = chrono::Utc::now().timestamp_micros();
    let mut figures =
        conn.transaction::<_, anyhow::Error, _>(async |conn| fill(conn, sizes, reference_us).await).await?;
    figures.time("VACUUM ANALYZE", execute(&mut conn, "VACUUM ANALYZE")).await?;
    figures.time("score levels", score_levels(&mut conn)).await?;
    Ok(figures)
}

/// The timeline's per-community score levels, computed by the feed plugin's refresh (the
/// one its background task runs), then analyzed.
async fn score_levels(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let communities = coves_plugin_feed::score_levels::refresh_score_levels(conn).await?;
    anyhow::ensure!(communities > 0, "no community has posts of the last 30 days to compute score levels from");
    conn.batch_execute("ANALYZE community_score_levels").await?;
    Ok(())
}

/// Loads every table, in one transaction. Posts are stored last, when their votes are
/// counted, so each is written once with its score (as the post plugin stores a post
/// whose votes arrived first).
async fn fill(conn: &mut AsyncPgConnection, sizes: &Sizes, reference_us: i64) -> anyhow::Result<LoadFigures> {
    let mut figures = LoadFigures { steps: Vec::new() };
    conn.batch_execute(SESSION).await?;
    conn.batch_execute(&helper_functions()).await?;
    let indexes = drop_secondary_indexes(conn).await?;
    figures.time("actors and communities", load_accounts(conn, sizes, reference_us)).await?;
    figures.time("post keys", number_posts(conn, sizes, reference_us)).await?;
    figures.time("comments", load_comments(conn, sizes, reference_us)).await?;
    figures.time("votes", load_votes(conn, sizes, reference_us)).await?;
    figures.time("counts", execute(conn, COUNTS)).await?;
    figures.time("posts", load_posts(conn)).await?;
    figures.time("subscriptions and blocks", load_relations(conn, sizes, reference_us)).await?;
    figures.time("indexes", create_indexes(conn, &indexes)).await?;
    Ok(figures)
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<()> {
    Ok(conn.batch_execute(sql).await?)
}

async fn create_indexes(conn: &mut AsyncPgConnection, definitions: &[String]) -> anyhow::Result<()> {
    for definition in definitions {
        conn.batch_execute(definition).await?;
    }
    Ok(())
}

/// Room for the large sorts and index builds of a bulk load; nothing waits for its WAL.
const SESSION: &str = "SET LOCAL synchronous_commit = off; SET LOCAL work_mem = '256MB'; \
     SET LOCAL maintenance_work_mem = '1GB'; SET LOCAL temp_buffers = '1GB';";

/// Session-local SQL helpers (`pg_temp`), inlined by the planner except `tid`:
/// - `u(n, stream)`: a uniform double in [0, 1) from hashing row `n`;
/// - `chars(n, stream)`: 16 characters of the base32 alphabet from hashing row `n`;
/// - `did(n, stream)`, `cid(n, stream)`: a `did:plc` and a CID of the real shapes;
/// - `share(k, count, total)`: how many of `total` items the `k`-th of `count` subjects
///   gets when they are dealt with the skew of `floor(count·u²)`: the subjects' quantiles;
/// - `tid(v)`: the TID (13 base32-sortable characters) of the 64-bit value `v`
///   (microseconds << 10 | clock id), digit by digit (a loop costs 10×). In PL/pgSQL:
///   an SQL function naming `v` 13 times is not inlined when `v` is an expression, and
///   an SQL function that is not inlined costs 10× too;
/// - `ts(us)`, `iso(us)`: a timestamp and its record form from Unix microseconds.
fn helper_functions() -> String {
    let digits: Vec<String> = (0..13)
        .map(|i| format!("substr('234567abcdefghijklmnopqrstuvwxyz', ((v >> {}) & 31)::int + 1, 1)", 5 * (12 - i)))
        .collect();
    format!(
        "CREATE FUNCTION pg_temp.u(n bigint, stream bigint) RETURNS float8 LANGUAGE sql IMMUTABLE AS \
           $$ SELECT (hashint8extended(n, stream) & 4503599627370495)::float8 / 4503599627370496 $$; \
         CREATE FUNCTION pg_temp.chars(n bigint, stream bigint) RETURNS text LANGUAGE sql IMMUTABLE AS \
           $$ SELECT translate(lpad(to_hex(hashint8extended(n, stream)), 16, '0'), '0189', 'wxyz') $$; \
         CREATE FUNCTION pg_temp.did(n bigint, stream bigint) RETURNS text LANGUAGE sql IMMUTABLE AS \
           $$ SELECT 'did:plc:' || pg_temp.chars(n, stream) || left(pg_temp.chars(n, stream + 1), 8) $$; \
         CREATE FUNCTION pg_temp.cid(n bigint, stream bigint) RETURNS text LANGUAGE sql IMMUTABLE AS \
           $$ SELECT 'bafyrei' || pg_temp.chars(n, stream) || pg_temp.chars(n, stream + 1) \
                || pg_temp.chars(n, stream + 2) || left(pg_temp.chars(n, stream + 3), 4) $$; \
         CREATE FUNCTION pg_temp.share(k bigint, count bigint, total bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS \
           $$ SELECT floor(total * sqrt((k + 1)::float8 / count))::bigint - floor(total * sqrt(k::float8 / count))::bigint $$; \
         CREATE FUNCTION pg_temp.tid(v bigint) RETURNS text LANGUAGE plpgsql IMMUTABLE AS \
           $$ BEGIN RETURN {}; END $$; \
         CREATE FUNCTION pg_temp.ts(us bigint) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS \
           $$ SELECT timestamptz 'epoch' + us * interval '1 microsecond' $$; \
         CREATE FUNCTION pg_temp.iso(us bigint) RETURNS text LANGUAGE sql IMMUTABLE AS \
           $$ SELECT to_char(pg_temp.ts(us) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') $$;",
        digits.join(" || ")
    )
}

#[derive(QueryableByName)]
struct IndexDefinition {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// Drops the loaded tables' indexes other than primary keys and constraints, and returns
/// their definitions: one sorted build per index after the load is several times faster
/// than maintaining each index row by row, and the definitions stay the migrations' own.
async fn drop_secondary_indexes(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<String>> {
    let indexes: Vec<IndexDefinition> = sql_query(
        "SELECT quote_ident(c.relname) AS name, pg_get_indexdef(i.indexrelid) AS definition \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relname = ANY($1) AND t.relnamespace = 'public'::regnamespace \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)",
    )
    .bind::<Array<Text>, _>(&TABLES[..])
    .load(conn)
    .await?;
    for index in &indexes {
        conn.batch_execute(&format!("DROP INDEX {}", index.name)).await?;
    }
    Ok(indexes.into_iter().map(|i| i.definition).collect())
}

/// Numbered DIDs of actors and communities (the other rows pick them by number), then
/// their rows.
async fn load_accounts(conn: &mut AsyncPgConnection, sizes: &Sizes, reference_us: i64) -> anyhow::Result<()> {
    conn.batch_execute(
        "CREATE TEMP TABLE bench_actors (n bigint PRIMARY KEY, did text NOT NULL) ON COMMIT DROP; \
         CREATE TEMP TABLE bench_communities (n bigint PRIMARY KEY, did text NOT NULL) ON COMMIT DROP;",
    )
    .await?;
    sql_query("INSERT INTO bench_actors SELECT n, pg_temp.did(n, 100) FROM generate_series(0, $1 - 1) n")
        .bind::<BigInt, _>(sizes.actors)
        .execute(conn)
        .await?;
    sql_query("INSERT INTO bench_communities SELECT n, pg_temp.did(n, 200) FROM generate_series(0, $1 - 1) n")
        .bind::<BigInt, _>(sizes.communities)
        .execute(conn)
        .await?;
    conn.batch_execute("ANALYZE bench_actors; ANALYZE bench_communities;").await?;
    sql_query(format!(
        "INSERT INTO actors (did, handle, display_name, bio, pds_endpoint, profile_created_at, profile_record, \
           profile_cid, profile_rev, first_seen_at, indexed_at, handle_verified_at, verify_after, status) \
         SELECT a.did, 'user' || a.n || '.{DOMAIN}', 'User ' || a.n, 'Bench account ' || a.n, 'https://pds.{DOMAIN}', \
           pg_temp.ts(t.at_us), jsonb_build_object('$type', 'social.coves.actor.profile', 'displayName', 'User ' || a.n, \
             'bio', 'Bench account ' || a.n, 'createdAt', pg_temp.iso(t.at_us)), \
           pg_temp.cid(a.n, 110), pg_temp.tid(t.at_us << 10), pg_temp.ts(t.at_us), pg_temp.ts(t.at_us), \
           pg_temp.ts($1), NULL, 'active' \
         FROM bench_actors a CROSS JOIN LATERAL (SELECT $1 - (pg_temp.u(a.n, 120) * $2)::bigint AS at_us) t"
    ))
    .bind::<BigInt, _>(reference_us)
    .bind::<BigInt, _>(700 * MICROS_PER_DAY)
    .execute(conn)
    .await?;
    sql_query(format!(
        "INSERT INTO communities (did, handle, name, display_name, description, created_by, hosted_by, created_at, \
           record, cid, rev, pds_endpoint, verified_at, verify_after, status, indexed_at) \
         SELECT c.did, 'c-' || t.name || '.{DOMAIN}', t.name, 'Topic ' || c.n, 'Bench community ' || c.n, a.did, \
           'did:web:{DOMAIN}', pg_temp.ts(t.at_us), \
           jsonb_build_object('$type', 'social.coves.community.profile', 'name', t.name, 'displayName', 'Topic ' || c.n, \
             'description', 'Bench community ' || c.n, 'createdBy', a.did, 'hostedBy', 'did:web:{DOMAIN}', \
             'createdAt', pg_temp.iso(t.at_us)), \
           pg_temp.cid(c.n, 210), pg_temp.tid(t.at_us << 10), 'https://pds.{DOMAIN}', pg_temp.ts($1), NULL, 'active', \
           pg_temp.ts(t.at_us) \
         FROM bench_communities c \
         CROSS JOIN LATERAL (SELECT 'topic' || c.n AS name, $1 - (pg_temp.u(c.n, 220) * $2)::bigint AS at_us) t \
         JOIN bench_actors a ON a.n = floor($3 * pg_temp.u(c.n, 230))::bigint"
    ))
    .bind::<BigInt, _>(reference_us)
    .bind::<BigInt, _>(700 * MICROS_PER_DAY)
    .bind::<BigInt, _>(sizes.actors)
    .execute(conn)
    .await?;
    Ok(())
}

/// The posts' keys, numbered in `bench_posts` for the comments and votes that pick them.
async fn number_posts(conn: &mut AsyncPgConnection, sizes: &Sizes, reference_us: i64) -> anyhow::Result<()> {
    conn.batch_execute(
        "CREATE TEMP TABLE bench_posts (n bigint PRIMARY KEY, uri text NOT NULL, cid text NOT NULL, \
           rkey text NOT NULL, community_did text NOT NULL, author_did text NOT NULL, at_us bigint NOT NULL) \
         ON COMMIT DROP;",
    )
    .await?;
    sql_query(
        "INSERT INTO bench_posts \
         SELECT p.n, 'at://' || p.community_did || '/social.coves.community.post/' || p.rkey, pg_temp.cid(p.n, 300), \
           p.rkey, p.community_did, p.author_did, p.at_us \
         FROM (SELECT g.n, c.did AS community_did, a.did AS author_did, t.at_us, \
                 pg_temp.tid((t.at_us << 10) | (g.n & 1023)) AS rkey \
               FROM generate_series(0, $1 - 1) g(n) \
               CROSS JOIN LATERAL (SELECT $2 - (pg_temp.u(g.n, 310) * $3)::bigint AS at_us) t \
               JOIN bench_communities c ON c.n = floor($4 * pg_temp.u(g.n, 320) ^ 2)::bigint \
               JOIN bench_actors a ON a.n = floor($5 * pg_temp.u(g.n, 330))::bigint) p",
    )
    .bind::<BigInt, _>(sizes.posts)
    .bind::<BigInt, _>(reference_us)
    .bind::<BigInt, _>(POST_SPAN_DAYS * MICROS_PER_DAY)
    .bind::<BigInt, _>(sizes.communities)
    .bind::<BigInt, _>(sizes.actors)
    .execute(conn)
    .await?;
    conn.batch_execute("ANALYZE bench_posts").await?;
    Ok(())
}

/// The posts, with their scores, and the communities' post counts.
async fn load_posts(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    conn.batch_execute(
        "INSERT INTO posts (uri, community_did, rkey, author_did, cid, rev, record, title, content, created_at, \
           indexed_at, score) \
         SELECT p.uri, p.community_did, p.rkey, p.author_did, p.cid, p.rkey, \
           jsonb_build_object('$type', 'social.coves.community.post', 'community', p.community_did, \
             'author', p.author_did, 'title', t.title, 'content', t.content, 'createdAt', pg_temp.iso(p.at_us)), \
           t.title, t.content, pg_temp.ts(p.at_us), pg_temp.ts(p.at_us), \
           COALESCE((SELECT vc.upvotes - vc.downvotes FROM vote_counts vc WHERE vc.subject_uri = p.uri), 0) \
         FROM bench_posts p CROSS JOIN LATERAL (SELECT 'Bench post ' || p.n AS title, \
           repeat('Lorem ipsum dolor sit amet, consectetur adipiscing elit. ', 1 + (p.n % 8)::int) AS content) t \
         ON CONFLICT DO NOTHING; \
         UPDATE communities SET post_count = p.n \
         FROM (SELECT community_did, count(*) AS n FROM posts WHERE NOT deleted GROUP BY community_did) p \
         WHERE communities.did = p.community_did;",
    )
    .await?;
    Ok(())
}

/// Comments, level by level into `bench_comments` (a level's parents are the posts or the
/// level above), then into `comments`.
async fn load_comments(conn: &mut AsyncPgConnection, sizes: &Sizes, reference_us: i64) -> anyhow::Result<()> {
    conn.batch_execute(
        "CREATE TEMP TABLE bench_comments (n bigint PRIMARY KEY, uri text NOT NULL, cid text NOT NULL, \
           rkey text NOT NULL, commenter_did text NOT NULL, root_uri text NOT NULL, root_cid text NOT NULL, \
           parent_uri text NOT NULL, parent_cid text NOT NULL, at_us bigint NOT NULL, deleted boolean NOT NULL) \
         ON COMMIT DROP;",
    )
    .await?;
    let mut parents =
        ("SELECT n AS k, uri, cid, uri AS root_uri, cid AS root_cid, at_us FROM bench_posts".to_owned(), sizes.posts);
    let mut first = 0;
    for count in level_sizes(sizes.comments) {
        insert_comment_level(conn, &parents, first, count, reference_us, sizes.actors).await?;
        conn.batch_execute("ANALYZE bench_comments").await?;
        parents = (
            format!(
                "SELECT n - {first} AS k, uri, cid, root_uri, root_cid, at_us FROM bench_comments \
                 WHERE n BETWEEN {first} AND {}",
                first + count - 1
            ),
            count,
        );
        first += count;
    }
    conn.batch_execute(
        "INSERT INTO comments (uri, commenter_did, rkey, cid, rev, record, root_uri, root_cid, parent_uri, parent_cid, \
           content, created_at, indexed_at, deleted, deleted_at, deletion_reason) \
         SELECT c.uri, c.commenter_did, c.rkey, c.cid, c.rkey, \
           CASE WHEN NOT c.deleted THEN jsonb_build_object('$type', 'social.coves.community.comment', \
             'reply', jsonb_build_object('root', jsonb_build_object('uri', c.root_uri, 'cid', c.root_cid), \
               'parent', jsonb_build_object('uri', c.parent_uri, 'cid', c.parent_cid)), \
             'content', t.content, 'createdAt', pg_temp.iso(c.at_us)) END, \
           c.root_uri, c.root_cid, c.parent_uri, c.parent_cid, CASE WHEN NOT c.deleted THEN t.content END, \
           pg_temp.ts(c.at_us), pg_temp.ts(c.at_us), c.deleted, CASE WHEN c.deleted THEN pg_temp.ts(c.at_us) END, \
           CASE WHEN c.deleted THEN 'author' END \
         FROM bench_comments c CROSS JOIN LATERAL (SELECT 'Bench comment ' || c.n || '. ' \
           || repeat('Lorem ipsum dolor sit amet. ', 1 + (c.n % 6)::int) AS content) t \
         ON CONFLICT DO NOTHING;",
    )
    .await?;
    Ok(())
}

/// How many comments each thread level gets (the last level takes the rounding).
fn level_sizes(comments: i64) -> Vec<i64> {
    let mut sizes: Vec<i64> = LEVEL_SHARES.iter().map(|share| (comments as f64 * share) as i64).collect();
    let assigned: i64 = sizes.iter().sum();
    if let Some(last) = sizes.last_mut() {
        *last += comments - assigned;
    }
    sizes
}

/// Comments `first..first + count`, each replying to one of `parents` (a query of rows
/// numbered `k` from 0 and their count) a little after it.
async fn insert_comment_level(
    conn: &mut AsyncPgConnection,
    (parents, parent_count): &(String, i64),
    first: i64,
    count: i64,
    reference_us: i64,
    actors: i64,
) -> anyhow::Result<()> {
    sql_query(format!(
        "INSERT INTO bench_comments \
         SELECT g.n, 'at://' || a.did || '/social.coves.community.comment/' || r.rkey, pg_temp.cid(g.n, 400), \
           r.rkey, a.did, p.root_uri, p.root_cid, p.uri, p.cid, t.at_us, pg_temp.u(g.n, 410) < 0.02 \
         FROM generate_series($1, $1 + $2 - 1) g(n) \
         JOIN ({parents}) p ON p.k = floor($3 * pg_temp.u(g.n, 420) ^ 2)::bigint \
         JOIN bench_actors a ON a.n = floor($4 * pg_temp.u(g.n, 430))::bigint \
         CROSS JOIN LATERAL (SELECT p.at_us + (pg_temp.u(g.n, 440) * LEAST($5, $6 - p.at_us))::bigint AS at_us) t \
         CROSS JOIN LATERAL (SELECT pg_temp.tid((t.at_us << 10) | (g.n & 1023)) AS rkey) r"
    ))
    .bind::<BigInt, _>(first)
    .bind::<BigInt, _>(count)
    .bind::<BigInt, _>(*parent_count)
    .bind::<BigInt, _>(actors)
    .bind::<BigInt, _>(REPLY_DELAY_DAYS * MICROS_PER_DAY)
    .bind::<BigInt, _>(reference_us)
    .execute(conn)
    .await?;
    Ok(())
}

/// Votes, dealt out by quantile: subject `k` of `count` gets `share(k, count, total)`
/// votes, the skew of the other picks, exactly `total` in all. Its `j`-th vote comes from
/// actor `(h + j) mod actors` for a per-subject offset `h`, so no voter votes twice on a
/// subject (a subject dealt more votes than there are actors keeps `actors`).
async fn load_votes(conn: &mut AsyncPgConnection, sizes: &Sizes, reference_us: i64) -> anyhow::Result<()> {
    let on_posts = (sizes.votes as f64 * POST_VOTE_SHARE) as i64;
    sql_query(
        "INSERT INTO votes (voter, rkey, subject_uri, direction, created_at, rev, indexed_at) \
         SELECT a.did, r.rkey, s.uri, CASE WHEN pg_temp.u(v.key, 500) < 0.8 THEN 1 ELSE -1 END, \
           pg_temp.ts(t.at_us), r.rkey, pg_temp.ts(t.at_us) \
         FROM (SELECT n, uri, at_us, $1 AS count, $2 AS total, 510 AS stream FROM bench_posts \
               UNION ALL SELECT n, uri, at_us, $3, $4, 520 FROM bench_comments) s \
         CROSS JOIN LATERAL generate_series(0, LEAST(pg_temp.share(s.n, s.count, s.total), $5) - 1) j \
         CROSS JOIN LATERAL (SELECT hashint8extended(s.n, s.stream) AS h) o \
         CROSS JOIN LATERAL (SELECT o.h + j AS key) v \
         JOIN bench_actors a ON a.n = ((o.h & 2147483647) + j) % $5 \
         CROSS JOIN LATERAL (SELECT s.at_us + (pg_temp.u(v.key, 530) * LEAST($6, $7 - s.at_us))::bigint AS at_us) t \
         CROSS JOIN LATERAL (SELECT pg_temp.tid((t.at_us << 10) | (v.key & 1023)) AS rkey) r \
         ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(sizes.posts)
    .bind::<BigInt, _>(on_posts)
    .bind::<BigInt, _>(sizes.comments)
    .bind::<BigInt, _>(sizes.votes - on_posts)
    .bind::<BigInt, _>(sizes.actors)
    .bind::<BigInt, _>(VOTE_DELAY_DAYS * MICROS_PER_DAY)
    .bind::<BigInt, _>(reference_us)
    .execute(conn)
    .await?;
    Ok(())
}

/// Subscriptions and blocks: each actor's communities, distinct, in `bench_relations`
/// (the first `subscriptions_per_actor` are subscriptions, the next `blocks_per_actor`
/// blocks), then their records and relation rows. The subscriber counts are left to the
/// subscription plugin's triggers, and checked.
async fn load_relations(conn: &mut AsyncPgConnection, sizes: &Sizes, reference_us: i64) -> anyhow::Result<()> {
    // Distinct communities cannot outnumber the communities.
    let subscriptions = sizes.subscriptions_per_actor.min(sizes.communities);
    let blocks = sizes.blocks_per_actor.min(sizes.communities - subscriptions);
    let wanted = subscriptions + blocks;
    if wanted == 0 {
        return Ok(());
    }
    conn.batch_execute(
        "CREATE TEMP TABLE bench_relations (actor_n bigint NOT NULL, community_n bigint NOT NULL, \
           slot bigint NOT NULL, rkey text NOT NULL, at_us bigint NOT NULL, visibility smallint NOT NULL, \
           PRIMARY KEY (actor_n, slot)) ON COMMIT DROP;",
    )
    .await?;
    // Each actor draws `candidates` communities with the posts' skew and keeps the first
    // `wanted` distinct ones, in the order first drawn (a few repeats among 2·wanted + 10
    // draws are expected: the largest community comes up 3% of the time).
    sql_query(
        "INSERT INTO bench_relations \
         SELECT a.n, r.community_n, r.slot, pg_temp.tid((t.at_us << 10) | (r.slot & 1023)), t.at_us, \
           CASE WHEN v.u < 0.5 THEN 3 WHEN v.u < 0.625 THEN 1 WHEN v.u < 0.75 THEN 2 WHEN v.u < 0.875 THEN 4 ELSE 5 END \
         FROM bench_actors a \
         CROSS JOIN LATERAL (SELECT d.community_n, row_number() OVER (ORDER BY min(d.j)) - 1 AS slot \
           FROM (SELECT j, floor($1 * pg_temp.u(a.n * $2 + j, 600) ^ 2)::bigint AS community_n \
                 FROM generate_series(0, $2 - 1) j) d \
           GROUP BY d.community_n ORDER BY min(d.j) LIMIT $3) r \
         CROSS JOIN LATERAL (SELECT a.n * $2 + r.slot AS key) k \
         CROSS JOIN LATERAL (SELECT $4 - (pg_temp.u(k.key, 610) * $5)::bigint AS at_us) t \
         CROSS JOIN LATERAL (SELECT pg_temp.u(k.key, 620) AS u) v",
    )
    .bind::<BigInt, _>(sizes.communities)
    .bind::<BigInt, _>(2 * wanted + 10)
    .bind::<BigInt, _>(wanted)
    .bind::<BigInt, _>(reference_us)
    .bind::<BigInt, _>(RELATION_SPAN_DAYS * MICROS_PER_DAY)
    .execute(conn)
    .await?;
    conn.batch_execute("ANALYZE bench_relations").await?;
    // One live record per pair, so each relation row is its pair's only record, as the
    // ingest's refresh leaves it. Rows go in key order (the primary keys are kept).
    sql_query(
        "INSERT INTO community_subscription_records (actor_did, rkey, community_did, content_visibility, created_at, \
           record, cid, rev, deleted, indexed_at) \
         SELECT a.did, r.rkey, c.did, r.visibility, pg_temp.ts(r.at_us), \
           jsonb_build_object('$type', 'social.coves.community.subscription', 'subject', c.did, \
             'createdAt', pg_temp.iso(r.at_us), 'contentVisibility', r.visibility), \
           pg_temp.cid(r.actor_n * 1024 + r.slot, 630), r.rkey, false, pg_temp.ts(r.at_us) \
         FROM bench_relations r JOIN bench_actors a ON a.n = r.actor_n JOIN bench_communities c ON c.n = r.community_n \
         WHERE r.slot < $1 ORDER BY a.did, r.rkey",
    )
    .bind::<BigInt, _>(subscriptions)
    .execute(conn)
    .await?;
    sql_query(
        "INSERT INTO community_block_records (actor_did, rkey, community_did, created_at, record, cid, rev, deleted, \
           indexed_at) \
         SELECT a.did, r.rkey, c.did, pg_temp.ts(r.at_us), \
           jsonb_build_object('$type', 'social.coves.community.block', 'subject', c.did, \
             'createdAt', pg_temp.iso(r.at_us)), \
           pg_temp.cid(r.actor_n * 1024 + r.slot, 640), r.rkey, false, pg_temp.ts(r.at_us) \
         FROM bench_relations r JOIN bench_actors a ON a.n = r.actor_n JOIN bench_communities c ON c.n = r.community_n \
         WHERE r.slot >= $1 ORDER BY a.did, r.rkey",
    )
    .bind::<BigInt, _>(subscriptions)
    .execute(conn)
    .await?;
    conn.batch_execute(
        "INSERT INTO community_subscriptions (actor_did, community_did, rkey, content_visibility, created_at) \
         SELECT actor_did, community_did, rkey, content_visibility, created_at FROM community_subscription_records \
         ORDER BY actor_did, community_did; \
         INSERT INTO community_blocks (actor_did, community_did, rkey, created_at) \
         SELECT actor_did, community_did, rkey, created_at FROM community_block_records \
         ORDER BY actor_did, community_did;",
    )
    .await?;
    let wrong: Mismatched = sql_query(
        "SELECT count(*) AS n FROM communities c \
         LEFT JOIN (SELECT community_did, count(*) AS n FROM community_subscriptions GROUP BY community_did) s \
           ON s.community_did = c.did \
         WHERE c.subscriber_count <> COALESCE(s.n, 0)",
    )
    .get_result(conn)
    .await?;
    anyhow::ensure!(
        wrong.n == 0,
        "{} communities' subscriber_count differ from a recount of their subscriptions",
        wrong.n
    );
    Ok(())
}

#[derive(QueryableByName)]
struct Mismatched {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The vote and comment counters, from the rows (the definitions the plugins keep by
/// deltas).
const COUNTS: &str = "\
    INSERT INTO vote_counts (subject_uri, upvotes, downvotes) \
    SELECT subject_uri, count(*) FILTER (WHERE direction > 0), count(*) FILTER (WHERE direction < 0) \
    FROM votes WHERE NOT deleted GROUP BY subject_uri; \
    INSERT INTO comment_counts (subject_uri, reply_count, thread_count) \
    SELECT subject_uri, sum(reply), sum(thread) FROM ( \
      SELECT parent_uri AS subject_uri, 1 AS reply, 0 AS thread FROM comments WHERE NOT deleted \
      UNION ALL SELECT root_uri, 0, 1 FROM comments WHERE NOT deleted) c \
    GROUP BY subject_uri;";

/// What a database holds: readable communities, actors, posts (all), live votes, comments
/// (including placeholders), subscriptions and blocks (relation rows).
#[derive(QueryableByName)]
pub struct DataSet {
    #[diesel(sql_type = BigInt)]
    pub communities: i64,
    #[diesel(sql_type = BigInt)]
    pub actors: i64,
    #[diesel(sql_type = BigInt)]
    pub posts: i64,
    #[diesel(sql_type = BigInt)]
    pub votes: i64,
    #[diesel(sql_type = BigInt)]
    pub comments: i64,
    #[diesel(sql_type = BigInt)]
    pub subscriptions: i64,
    #[diesel(sql_type = BigInt)]
    pub blocks: i64,
}

/// Counts what the database at hand holds.
pub async fn count(conn: &mut AsyncPgConnection) -> anyhow::Result<DataSet> {
    Ok(sql_query(format!(
        "SELECT (SELECT count(*) FROM communities WHERE {}) AS communities, \
           (SELECT count(*) FROM actors) AS actors, (SELECT count(*) FROM posts) AS posts, \
           (SELECT count(*) FROM votes WHERE NOT deleted) AS votes, (SELECT count(*) FROM comments) AS comments, \
           (SELECT count(*) FROM community_subscriptions) AS subscriptions, \
           (SELECT count(*) FROM community_blocks) AS blocks",
        coves_plugin_community::VISIBLE
    ))
    .get_result(conn)
    .await?)
}
