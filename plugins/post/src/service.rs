//! Reads of posts, shared by GraphQL and the XRPC views so both agree on visibility,
//! order and pagination.
//!
//! A post is **readable** when it is live, its community is readable and its author's
//! account is active (COVES_API §2.4, §4.7). Lists rank with [`coves_plugin_api::ranking`]:
//! hot = `(score + 1) / (ageHours + 2)^1.5` at the page's reference time, then the effective
//! creation time and the URI.

use chrono::{DateTime, Utc};
use coves_plugin_api::cursor::{Listed, Page};
use coves_plugin_api::diesel::sql_types::{Array, BigInt, Double, Integer, Jsonb, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryResult, QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};
use coves_plugin_api::ranking::{PageStart, Position, RankedSql, Sort};
use coves_plugin_api::{ACTIVE_STATUS, ApiError};
use coves_plugin_community::VISIBLE;
use serde_json::Value;

use crate::POST_COLLECTION;

/// A readable post.
#[derive(Clone, Debug, QueryableByName)]
pub struct PostRow {
    #[diesel(sql_type = Text)]
    pub uri: String,
    #[diesel(sql_type = Text)]
    pub cid: String,
    #[diesel(sql_type = Text)]
    pub rkey: String,
    /// The community (whose repo holds the post, and its blobs).
    #[diesel(sql_type = Text)]
    pub community_did: String,
    #[diesel(sql_type = Text)]
    pub author_did: String,
    /// The record as received.
    #[diesel(sql_type = Jsonb)]
    pub record: Value,
    #[diesel(sql_type = Nullable<Text>)]
    pub title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub content: Option<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub facets: Option<Value>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub embed: Option<Value>,
    #[diesel(sql_type = Array<Text>)]
    pub langs: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub tags: Vec<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub labels: Option<Value>,
    /// The effective creation time, min(createdAt, indexedAt) (COVES_API §6.1): what views
    /// show as `createdAt` and what lists sort by.
    #[diesel(sql_type = Timestamptz)]
    pub sort_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub indexed_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub edited_at: Option<DateTime<Utc>>,
}

impl PostRow {
    /// The record as served: `$type` set, `createdAt` normalized to `Z`.
    pub fn record_view(&self) -> Value {
        coves_plugin_api::views::record_view(&self.record, POST_COLLECTION, self.sort_at)
    }
}

const COLUMNS: &str = "p.uri, p.cid, p.rkey, p.community_did, p.author_did, p.record, p.title, p.content, p.facets, \
     p.embed, p.langs, p.tags, p.labels, p.sort_at, p.indexed_at, p.edited_at";

/// Readable posts `p`: live, in a readable community, by an active author.
fn readable() -> String {
    format!("NOT p.deleted AND {}", in_readable_community_by_active_author(""))
}

/// Posts `p` (live or deleted) in a readable community (that also meets
/// `community_condition`, SQL over `communities` starting with `AND`, or empty) by an
/// active author.
fn in_readable_community_by_active_author(community_condition: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM communities WHERE did = p.community_did AND {VISIBLE}{community_condition}) \
         AND {}",
        by_active_author()
    )
}

/// Posts `p` whose author's account is active.
fn by_active_author() -> String {
    format!("NOT EXISTS (SELECT 1 FROM actors a WHERE a.did = p.author_did AND a.status <> '{ACTIVE_STATUS}')")
}

/// The readable posts among `uris` (any order; missing ones are absent).
pub async fn find_posts(conn: &mut AsyncPgConnection, uris: &[&str]) -> QueryResult<Vec<PostRow>> {
    if uris.is_empty() {
        return Ok(Vec::new());
    }
    sql_query(format!("/* post::find_posts */ SELECT {COLUMNS} FROM posts p WHERE p.uri = ANY($1) AND {}", readable()))
        .bind::<Array<Text>, _>(uris)
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct Uri {
    #[diesel(sql_type = Text)]
    uri: String,
}

/// Which of `uris` are readable posts (for checks that need no row).
pub async fn readable_post_uris(conn: &mut AsyncPgConnection, uris: &[&str]) -> QueryResult<Vec<String>> {
    if uris.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Uri> = sql_query(format!(
        "/* post::readable_post_uris */ SELECT p.uri FROM posts p WHERE p.uri = ANY($1) AND {}",
        readable()
    ))
    .bind::<Array<Text>, _>(uris)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.uri).collect())
}

/// The post at the root of a thread, which may be deleted (COVES_API §4.8).
#[derive(Clone, Debug, QueryableByName)]
pub struct ThreadRoot {
    /// A deleted post's record is reduced to `$type`, `community`, `author`, `createdAt`.
    #[diesel(embed)]
    pub post: PostRow,
    #[diesel(sql_type = coves_plugin_api::diesel::sql_types::Bool)]
    pub deleted: bool,
}

/// The post `uri` as the root of its thread: readable, or deleted after it was seen live
/// (its thread is still served, Go-compatible). A post never seen live, in an unreadable
/// community or by an inactive author is `None`.
pub async fn find_thread_root(conn: &mut AsyncPgConnection, uri: &str) -> QueryResult<Option<ThreadRoot>> {
    let reduced = format!(
        "jsonb_build_object('$type', '{POST_COLLECTION}', 'community', p.community_did, 'author', p.author_did, \
         'createdAt', p.created_at)"
    );
    let mut rows: Vec<ThreadRoot> = sql_query(format!(
        "/* post::find_thread_root */ SELECT {columns}, p.deleted FROM posts p \
         WHERE p.uri = $1 AND p.author_did IS NOT NULL AND p.cid IS NOT NULL AND {shown}",
        shown = in_readable_community_by_active_author(""),
        columns = COLUMNS.replace("p.record", &format!("COALESCE(p.record, {reduced}) AS record")),
    ))
    .bind::<Text, _>(uri)
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// Which posts a list holds.
#[derive(Clone, Debug, Default)]
pub struct PostFilter {
    /// Only posts in this community (a DID).
    pub community: Option<String>,
    /// Only posts in these communities, each post scoring at least its community's
    /// minimum (a timeline: the viewer's subscriptions, weighted).
    pub communities: Option<Vec<CommunityMinimum>>,
    /// Never posts in these communities (the viewer's blocks).
    pub excluded_communities: Vec<String>,
    /// Only posts in communities whose `visibility` is `public` (discovery feeds).
    pub public_communities: bool,
    /// Only posts by this author (a DID).
    pub author: Option<String>,
    /// Only posts with an embed (`posts_with_media`).
    pub with_embed: bool,
}

/// A community a list draws from, and the lowest score its posts need there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityMinimum {
    pub did: String,
    /// `None`: every post.
    pub min_score: Option<i32>,
}

/// One page of posts.
pub type PostPage = Page<PostRow>;

#[derive(QueryableByName)]
struct Ranked {
    #[diesel(embed)]
    post: PostRow,
    #[diesel(sql_type = Integer)]
    score: i32,
    #[diesel(sql_type = Double)]
    rank: f64,
}

/// The cursor namespace of post lists.
const LIST: &str = "posts";

/// Hot rank of post `p` at reference time `$1` (COVES_API §6).
const HOT_RANK: &str = "(p.score + 1)::float8 / power(GREATEST(extract(epoch FROM ($1::timestamptz - p.sort_at))::float8 \
     / 3600, 0) + 2, 1.5)";

/// The columns ranked lists sort by, inside the `ranked` subquery.
const KEYS: RankedSql<'static> =
    RankedSql { rank: "rank", score: "score", at: "sort_at", uri: "uri", hot_ties_by_score: false };

/// Starts a page of a post list: decodes `cursor` (400 `InvalidCursor` when it belongs to
/// another list or sort).
pub fn page_start(sort: Sort, cursor: Option<&str>) -> Result<PageStart, ApiError> {
    PageStart::new(LIST, sort, cursor)
}

/// The filter's WHERE conditions over `p`, with placeholders numbered from `$next`.
fn filter_sql(filter: &PostFilter, next: &mut usize) -> String {
    let public = if filter.public_communities { " AND visibility = 'public'" } else { "" };
    let mut sql = if filter.communities.is_some() {
        // The listed communities' readability is checked once, not per post (and without
        // reading every community), below.
        format!("NOT p.deleted AND {}", by_active_author())
    } else {
        format!("NOT p.deleted AND {}", in_readable_community_by_active_author(public))
    };
    for (value, column) in [(&filter.community, "p.community_did"), (&filter.author, "p.author_did")] {
        if value.is_some() {
            sql.push_str(&format!(" AND {column} = ${next}"));
            *next += 1;
        }
    }
    if filter.communities.is_some() {
        // $next: the DIDs, $next+1: their minimum scores (NULL: none), in the same order.
        let (dids, mins) = (*next, *next + 1);
        sql.push_str(&format!(
            " AND p.community_did = ANY(ARRAY(SELECT did FROM communities \
               WHERE did = ANY(${dids}::text[]) AND {VISIBLE}{public})) \
             AND p.score >= COALESCE((${mins}::int[])[array_position(${dids}::text[], p.community_did)], -2147483648)"
        ));
        *next += 2;
    }
    if !filter.excluded_communities.is_empty() {
        sql.push_str(&format!(" AND p.community_did <> ALL(${next}::text[])"));
        *next += 1;
    }
    if filter.with_embed {
        sql.push_str(" AND p.embed IS NOT NULL");
    }
    sql
}

fn bind_filter<'a>(
    mut query: coves_plugin_api::ranking::BoxedQuery<'a>,
    filter: &'a PostFilter,
) -> coves_plugin_api::ranking::BoxedQuery<'a> {
    for value in [&filter.community, &filter.author].into_iter().flatten() {
        query = query.bind::<Text, _>(value.as_str());
    }
    if let Some(communities) = &filter.communities {
        let dids: Vec<&str> = communities.iter().map(|c| c.did.as_str()).collect();
        let mins: Vec<Option<i32>> = communities.iter().map(|c| c.min_score).collect();
        query = query.bind::<Array<Text>, _>(dids).bind::<Array<Nullable<Integer>>, _>(mins);
    }
    if !filter.excluded_communities.is_empty() {
        query = query.bind::<Array<Text>, _>(&filter.excluded_communities);
    }
    query
}

/// How far back a hot list ranks every post. Older posts enter only when their score
/// could still beat the page's last rank among recent ones: at an age of at least
/// `RECENT_HOURS`, a post ranks at most `(score + 1) / (RECENT_HOURS + 2)^1.5`.
const RECENT_HOURS: u32 = 48;

/// A page of `limit` posts matching `filter`, in `start`'s sort, after its position.
pub async fn list_posts(
    conn: &mut AsyncPgConnection,
    filter: &PostFilter,
    start: &PageStart,
    limit: i64,
) -> Result<PostPage, ApiError> {
    let sort = start.sort;
    let mut next = 2;
    let mut conditions = filter_sql(filter, &mut next);
    if start.window_start().is_some() {
        conditions.push_str(&format!(" AND p.sort_at >= ${next}"));
        next += 1;
    }
    if start.after.is_some() {
        // Later pages list the posts as of the first page: one that arrived since would
        // rank among them at a place the reader has already passed, or not.
        conditions.push_str(" AND p.sort_at <= $1");
    }
    let keyset = match &start.after {
        Some(_) => format!("AND {}", KEYS.after(sort, next)),
        None => String::new(),
    };
    let limit = limit.max(1);
    let n = format!("${}", next + start.after.as_ref().map_or(0, |_| KEYS.keys(sort).len()));
    let order = KEYS.order_by(sort);
    let sql = match sort {
        Sort::Hot => {
            let recent = format!("$1::timestamptz - interval '{RECENT_HOURS} hours'");
            let factor = f64::from(RECENT_HOURS + 2).powf(1.5);
            // Candidates are ranked from the indexes alone (the keys and the author are
            // included in them); only the page's rows are read from the table. The lowest
            // score an older post needs to reach the page: none when the recent posts do
            // not fill it (or rank ≤ 0, where age no longer hurts).
            format!(
                "/* post::list_posts hot */ WITH ranked AS NOT MATERIALIZED (SELECT p.uri, p.sort_at, p.score, \
                   {HOT_RANK} AS rank FROM posts p WHERE {conditions}), \
                 recent AS (SELECT * FROM ranked WHERE sort_at >= {recent} {keyset} ORDER BY {order} LIMIT {n}), \
                 bar AS (SELECT CASE WHEN count(*) = {n} AND min(rank) > 0 \
                   THEN ceil(min(rank) * {factor} - 1 - 1e-9)::int END AS min_score FROM recent), \
                 page AS (SELECT * FROM recent UNION ALL \
                   SELECT * FROM ranked WHERE sort_at < {recent} \
                     AND score >= COALESCE((SELECT min_score FROM bar), -2147483648) {keyset} \
                   ORDER BY {order} LIMIT {n}) \
                 SELECT {COLUMNS}, page.score, page.rank FROM page JOIN posts p ON p.uri = page.uri \
                 ORDER BY page.rank DESC, page.sort_at DESC, page.uri DESC"
            )
        }
        Sort::Top(_) | Sort::New => format!(
            "/* post::list_posts */ SELECT * FROM (SELECT {COLUMNS}, p.score, {HOT_RANK} AS rank \
               FROM posts p WHERE {conditions}) ranked WHERE true {keyset} ORDER BY {order} LIMIT {n}"
        ),
    };
    let mut query = sql_query(sql).into_boxed().bind::<Timestamptz, _>(start.t0);
    query = bind_filter(query, filter);
    if let Some(window) = start.window_start() {
        query = query.bind::<Timestamptz, _>(window);
    }
    if let Some(after) = &start.after {
        query = KEYS.bind_after(query, sort, after);
    }
    let rows: Vec<Ranked> = query.bind::<BigInt, _>(limit + 1).load(conn).await?;
    let (rows, has_more) = coves_plugin_api::cursor::split_page(rows, usize::try_from(limit).unwrap_or(0));
    let items = rows
        .into_iter()
        .map(|r| {
            let position = Position {
                rank: r.rank,
                score: i64::from(r.score),
                at_us: r.post.sort_at.timestamp_micros(),
                uri: r.post.uri.clone(),
            };
            Listed { cursor: start.cursor_after(LIST, position), item: r.post }
        })
        .collect();
    Ok(PostPage { items, has_more })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many readable posts match `filter` (and `start`'s top window).
pub async fn count_posts(
    conn: &mut AsyncPgConnection,
    filter: &PostFilter,
    start: &PageStart,
) -> Result<i64, ApiError> {
    let mut next = 1;
    let mut conditions = filter_sql(filter, &mut next);
    if start.window_start().is_some() {
        conditions.push_str(&format!(" AND p.sort_at >= ${next}"));
    }
    let mut query =
        sql_query(format!("/* post::count_posts */ SELECT count(*) AS n FROM posts p WHERE {conditions}")).into_boxed();
    query = bind_filter(query, filter);
    if let Some(window) = start.window_start() {
        query = query.bind::<Timestamptz, _>(window);
    }
    let count: Count = query.get_result(conn).await?;
    Ok(count.n)
}
