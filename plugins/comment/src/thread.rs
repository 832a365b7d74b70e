//! Reading comments: threads one level at a time, an author's comments, and single
//! comments, shared by GraphQL and the XRPC views.
//!
//! A comment is **readable** when its author's account is active. Live comments are
//! listed at the top level of a thread and in an author's list; below the top level a
//! deleted comment stays as a placeholder so its replies keep their place (COVES_API §5.3).
//! Lists rank with [`coves_plugin_api::ranking`]: hot = `log10(max(2, score + 2)) /
//! (ageHours + 2)^1.8`, ties by score, effective creation time and URI (§6).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::cursor::{Listed, Page};
use coves_plugin_api::diesel::sql_types::{Array, BigInt, Bool, Double, Jsonb, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryResult, QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};
use coves_plugin_api::ranking::{BoxedQuery, PageStart, Position, RankedSql, Sort};
use coves_plugin_api::{ACTIVE_STATUS, ApiError};
use serde_json::Value;

use crate::COMMENT_COLLECTION;

/// A readable comment, or a placeholder of a deleted one.
#[derive(Clone, Debug, QueryableByName)]
pub struct CommentRow {
    #[diesel(sql_type = Text)]
    pub uri: String,
    /// CID of the (last live) version.
    #[diesel(sql_type = Text)]
    pub cid: String,
    #[diesel(sql_type = Text)]
    pub rkey: String,
    /// The author, whose repo holds the comment and its blobs.
    #[diesel(sql_type = Text)]
    pub commenter_did: String,
    /// The record as received; `None` on placeholders.
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub record: Option<Value>,
    /// The thread's post.
    #[diesel(sql_type = Text)]
    pub root_uri: String,
    #[diesel(sql_type = Text)]
    pub root_cid: String,
    /// The post (top-level comment) or comment replied to.
    #[diesel(sql_type = Text)]
    pub parent_uri: String,
    #[diesel(sql_type = Text)]
    pub parent_cid: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub content: Option<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub facets: Option<Value>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub embed: Option<Value>,
    #[diesel(sql_type = Array<Text>)]
    pub langs: Vec<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub labels: Option<Value>,
    /// The effective creation time, min(createdAt, indexedAt) (§6.1).
    #[diesel(sql_type = Timestamptz)]
    pub sort_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub indexed_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub edited_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    pub deleted: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// `author` (or `moderator`) on placeholders.
    #[diesel(sql_type = Nullable<Text>)]
    pub deletion_reason: Option<String>,
}

impl CommentRow {
    /// The record as served (`createdAt` normalized to `Z`); `None` on placeholders.
    pub fn record_view(&self) -> Option<Value> {
        let record = self.record.as_ref()?;
        Some(coves_plugin_api::views::record_view(record, COMMENT_COLLECTION, self.sort_at))
    }

    /// Whether it replies to another comment (rather than to the post).
    pub fn replies_to_comment(&self) -> bool {
        self.parent_uri != self.root_uri
    }
}

const COLUMNS: &str = "c.uri, c.cid, c.rkey, c.commenter_did, c.record, c.root_uri, c.root_cid, c.parent_uri, \
     c.parent_cid, c.content, c.facets, c.embed, c.langs, c.labels, c.sort_at, c.indexed_at, c.edited_at, c.deleted, \
     c.deleted_at, c.deletion_reason";

/// Comments `c` that can be shown, live or as placeholders: seen live once (a tombstone of
/// a comment never seen has no thread position), by an active author.
fn shown() -> String {
    format!(
        "c.parent_uri IS NOT NULL AND c.cid IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM actors a WHERE a.did = c.commenter_did AND a.status <> '{ACTIVE_STATUS}')"
    )
}

/// The cursor namespace of comment lists.
const LIST: &str = "comments";

/// Hot rank of comment `c` with score `{score}` at reference time `$1`.
const HOT_RANK: &str = "log(GREATEST(2, ({score}) + 2)::float8) / power(GREATEST(extract(epoch FROM \
     ($1::timestamptz - c.sort_at))::float8 / 3600, 0) + 2, 1.8)";

/// The columns ranked lists sort by, inside the `ranked` subquery.
const KEYS: RankedSql<'static> =
    RankedSql { rank: "rank", score: "score", at: "sort_at", uri: "uri", hot_ties_by_score: true };

const SCORE: &str = "COALESCE(vc.upvotes - vc.downvotes, 0)";

/// `FROM` clause body of ranked comments: the comment, its votes, its rank.
fn ranked_select() -> String {
    format!(
        "SELECT {COLUMNS}, {SCORE}::bigint AS score, {rank} AS rank \
         FROM comments c LEFT JOIN vote_counts vc ON vc.subject_uri = c.uri",
        rank = HOT_RANK.replace("{score}", SCORE)
    )
}

/// Starts a page of a comment list (400 `InvalidCursor` for another list's cursor).
pub fn page_start(sort: Sort, cursor: Option<&str>) -> Result<PageStart, ApiError> {
    PageStart::new(LIST, sort, cursor)
}

#[derive(QueryableByName)]
struct Ranked {
    #[diesel(embed)]
    comment: CommentRow,
    #[diesel(sql_type = BigInt)]
    score: i64,
    #[diesel(sql_type = Double)]
    rank: f64,
}

impl Ranked {
    fn position(&self) -> Position {
        Position {
            rank: self.rank,
            score: self.score,
            at_us: self.comment.sort_at.timestamp_micros(),
            uri: self.comment.uri.clone(),
        }
    }
}

/// One page of comments.
pub type CommentPage = Page<CommentRow>;

/// Which comments a paged list holds.
#[derive(Clone, Debug)]
pub enum CommentFilter {
    /// The live comments replying directly to the post `root` (a thread's top level).
    TopLevel { root: String },
    /// The replies to a comment, placeholders included.
    Replies { parent: String },
    /// An author's live comments, optionally only those under posts of one community.
    ByAuthor { author: String, community: Option<String> },
}

impl CommentFilter {
    /// WHERE conditions over `c` whose parameters are numbered from `$first`; returns
    /// them and the next free parameter number.
    fn sql(&self, first: usize) -> (String, usize) {
        let shown = shown();
        let (a, b) = (first, first + 1);
        match self {
            Self::TopLevel { .. } => (format!("{shown} AND NOT c.deleted AND c.parent_uri = ${a}"), b),
            Self::Replies { .. } => (format!("{shown} AND c.parent_uri = ${a}"), b),
            Self::ByAuthor { community: None, .. } => {
                (format!("{shown} AND NOT c.deleted AND c.commenter_did = ${a}"), b)
            }
            Self::ByAuthor { community: Some(_), .. } => (
                format!(
                    "{shown} AND NOT c.deleted AND c.commenter_did = ${a} \
                     AND EXISTS (SELECT 1 FROM posts p WHERE p.uri = c.root_uri AND p.community_did = ${b})"
                ),
                b + 1,
            ),
        }
    }

    fn bind<'a>(&'a self, query: BoxedQuery<'a>) -> BoxedQuery<'a> {
        match self {
            Self::TopLevel { root: value } | Self::Replies { parent: value } => query.bind::<Text, _>(value.as_str()),
            Self::ByAuthor { author, community } => {
                let query = query.bind::<Text, _>(author.as_str());
                match community {
                    Some(community) => query.bind::<Text, _>(community.as_str()),
                    None => query,
                }
            }
        }
    }
}

/// A page of `limit` comments matching `filter`, in `start`'s sort, after its position.
pub async fn list_comments(
    conn: &mut AsyncPgConnection,
    filter: &CommentFilter,
    start: &PageStart,
    limit: i64,
) -> Result<CommentPage, ApiError> {
    let sort = start.sort;
    // $1 is the reference time.
    let (mut conditions, mut next) = filter.sql(2);
    if start.window_start().is_some() {
        conditions.push_str(&format!(" AND c.sort_at >= ${next}"));
        next += 1;
    }
    if start.after.is_some() {
        // Later pages list the comments as of the first page.
        conditions.push_str(" AND c.sort_at <= $1");
    }
    let keyset = match &start.after {
        Some(_) => format!("WHERE {}", KEYS.after(sort, next)),
        None => String::new(),
    };
    let limit_param = next + start.after.as_ref().map_or(0, |_| KEYS.keys(sort).len());
    let sql = format!(
        "/* comment::list_comments */ SELECT * FROM ({select} WHERE {conditions}) ranked {keyset} \
         ORDER BY {order} LIMIT ${limit_param}",
        select = ranked_select(),
        order = KEYS.order_by(sort),
    );
    let mut query = filter.bind(sql_query(sql).into_boxed().bind::<Timestamptz, _>(start.t0));
    if let Some(window) = start.window_start() {
        query = query.bind::<Timestamptz, _>(window);
    }
    if let Some(after) = &start.after {
        query = KEYS.bind_after(query, sort, after);
    }
    let rows: Vec<Ranked> = query.bind::<BigInt, _>(limit + 1).load(conn).await?;
    let (rows, has_more) = coves_plugin_api::cursor::split_page(rows, usize::try_from(limit).unwrap_or(0));
    let items =
        rows.into_iter().map(|r| Listed { cursor: start.cursor_after(LIST, r.position()), item: r.comment }).collect();
    Ok(CommentPage { items, has_more })
}

/// Replies shown per parent below a thread's first level (COVES_API §4.8).
pub const REPLIES_PER_PARENT: i64 = 5;

/// The levels below a page of comments: each comment's first replies, some levels down.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// The first replies of each expanded comment, by its URI.
    pub replies: HashMap<String, CommentPage>,
    /// Comments at the depth limit that have replies (not read).
    pub cut_off: std::collections::HashSet<String>,
}

impl Tree {
    /// Every comment of the levels read.
    pub fn comments(&self) -> impl Iterator<Item = &CommentRow> {
        self.replies.values().flat_map(|p| p.items.iter().map(|i| &i.item))
    }
}

/// Reads `depth` levels below the comments `top`, [`REPLIES_PER_PARENT`] per parent in
/// `start`'s sort: one query per level, then one for which comments at the depth limit
/// have replies.
pub async fn expand(
    conn: &mut AsyncPgConnection,
    top: &[&CommentRow],
    start: &PageStart,
    depth: i64,
) -> Result<Tree, ApiError> {
    let mut tree = Tree::default();
    let mut frontier: Vec<String> = top.iter().map(|c| c.uri.clone()).collect();
    let level_start = PageStart { after: None, ..start.clone() };
    for _ in 0..depth {
        if frontier.is_empty() {
            break;
        }
        let pages = first_replies(conn, &frontier, false, &level_start, REPLIES_PER_PARENT).await?;
        frontier = pages.values().flat_map(|p| p.items.iter().map(|i| i.item.uri.clone())).collect();
        tree.replies.extend(pages);
    }
    tree.cut_off = with_replies(conn, &frontier).await?.into_iter().collect();
    Ok(tree)
}

/// The first `per_parent` replies (placeholders included) of every parent, ranked by
/// `sort` at `t0`: one query for a whole thread level (COVES_API §4.8: ≤ 5 per parent).
/// Each parent's page continues with its cursor.
///
/// With `live_only` the pages hold live comments only: the top level of threads, whose
/// parents are posts.
pub async fn first_replies(
    conn: &mut AsyncPgConnection,
    parents: &[String],
    live_only: bool,
    start: &PageStart,
    per_parent: i64,
) -> Result<HashMap<String, CommentPage>, ApiError> {
    if parents.is_empty() {
        return Ok(HashMap::new());
    }
    let window = start.window_start();
    let sql = format!(
        "/* comment::first_replies */ SELECT r.* FROM unnest($2::text[]) AS parent(uri) \
         CROSS JOIN LATERAL (SELECT * FROM ({select} WHERE c.parent_uri = parent.uri AND {shown} {live} {window}) \
           ranked ORDER BY {order} LIMIT $3) r",
        select = ranked_select(),
        shown = shown(),
        live = if live_only { "AND NOT c.deleted" } else { "" },
        window = if window.is_some() { "AND c.sort_at >= $4" } else { "" },
        order = KEYS.order_by(start.sort),
    );
    let mut query = sql_query(sql)
        .into_boxed()
        .bind::<Timestamptz, _>(start.t0)
        .bind::<Array<Text>, _>(parents)
        .bind::<BigInt, _>(per_parent + 1);
    if let Some(window) = window {
        query = query.bind::<Timestamptz, _>(window);
    }
    let rows: Vec<Ranked> = query.load(conn).await?;
    let mut pages: HashMap<String, CommentPage> = HashMap::new();
    for row in rows {
        let page = pages.entry(row.comment.parent_uri.clone()).or_insert_with(Page::empty);
        if page.items.len() < usize::try_from(per_parent).unwrap_or(0) {
            page.items.push(Listed { cursor: start.cursor_after(LIST, row.position()), item: row.comment });
        } else {
            page.has_more = true;
        }
    }
    Ok(pages)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many comments `filter` holds (whatever the sort).
pub async fn count_comments(conn: &mut AsyncPgConnection, filter: &CommentFilter) -> Result<i64, ApiError> {
    let (conditions, _) = filter.sql(1);
    let sql = format!("/* comment::count_comments */ SELECT count(*) AS n FROM comments c WHERE {conditions}");
    let query = filter.bind(sql_query(sql).into_boxed());
    let count: Count = query.get_result(conn).await?;
    Ok(count.n)
}

/// The shown comment with root `root_uri` and key `rkey` (the oldest when several authors
/// reused the key): the anchor of a permalink or of "more replies".
pub async fn find_anchor(conn: &mut AsyncPgConnection, root_uri: &str, rkey: &str) -> QueryResult<Option<CommentRow>> {
    let mut rows: Vec<CommentRow> = sql_query(format!(
        "/* comment::find_anchor */ SELECT {COLUMNS} FROM comments c \
         WHERE c.root_uri = $1 AND c.rkey = $2 AND {} ORDER BY c.sort_at, c.uri LIMIT 1",
        shown()
    ))
    .bind::<Text, _>(root_uri)
    .bind::<Text, _>(rkey)
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// The shown comments among `uris` (any order), placeholders included.
pub async fn find_comments(conn: &mut AsyncPgConnection, uris: &[&str]) -> QueryResult<Vec<CommentRow>> {
    if uris.is_empty() {
        return Ok(Vec::new());
    }
    sql_query(format!(
        "/* comment::find_comments */ SELECT {COLUMNS} FROM comments c WHERE c.uri = ANY($1) AND {}",
        shown()
    ))
    .bind::<Array<Text>, _>(uris)
    .load(conn)
    .await
}

/// Which of `parents` have replies to show (live ones or placeholders): `hasMore` of the
/// comments at a thread's depth limit, whose replies are not read.
pub async fn with_replies(conn: &mut AsyncPgConnection, parents: &[String]) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Parent {
        #[diesel(sql_type = Text)]
        uri: String,
    }
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Parent> = sql_query(format!(
        "/* comment::with_replies */ SELECT parent.uri FROM unnest($1::text[]) AS parent(uri) \
         WHERE EXISTS (SELECT 1 FROM comments c WHERE c.parent_uri = parent.uri AND {})",
        shown()
    ))
    .bind::<Array<Text>, _>(parents)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|p| p.uri).collect())
}

/// How many live comments lie anywhere below each of `uris` (their whole subtrees,
/// through placeholders too), read with one recursive query. Counted from the rows, so
/// it is exact whatever the order in which a thread's comments arrived.
pub async fn descendant_counts(conn: &mut AsyncPgConnection, uris: &[&str]) -> QueryResult<HashMap<String, i64>> {
    #[derive(QueryableByName)]
    struct Descendants {
        #[diesel(sql_type = Text)]
        uri: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    if uris.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Descendants> = sql_query(format!(
        "/* comment::descendant_counts */ SELECT top.uri, (SELECT count(*) FROM ( \
           WITH RECURSIVE below(uri, deleted) AS ( \
             SELECT c.uri, c.deleted FROM comments c WHERE c.parent_uri = top.uri AND {shown} \
             UNION ALL SELECT c.uri, c.deleted FROM comments c JOIN below b ON c.parent_uri = b.uri WHERE {shown}) \
           SELECT 1 FROM below WHERE NOT deleted) live) AS n \
         FROM unnest($1::text[]) AS top(uri)",
        shown = shown()
    ))
    .bind::<Array<Text>, _>(uris)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.uri, r.n)).collect())
}
