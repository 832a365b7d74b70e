//! Reads shared by the GraphQL resolvers, the XRPC handlers and other plugins, so they
//! cannot drift.
//!
//! A community is readable when its profile is not deleted and its handle is verified
//! ([`VISIBLE`]). Identifiers are resolved here, at the API boundary (COVES_API §3.2):
//! a DID must name a readable community, a handle (from `c-name.instance`, `@handle` or
//! `!name@instance`) must equal a readable community's verified handle. No network lookup.

use chrono::{DateTime, Utc};
use coves_plugin_api::cursor::{Listed, Page};
use coves_plugin_api::diesel::sql_types::{Array, BigInt, Bool, Float4, Jsonb, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{OptionalExtension, QueryResult, QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};
use coves_plugin_api::identifiers::{CommunityId, display_handle, parse_community_id};
use coves_plugin_api::images::{ImagePreset, blob_url};
use coves_plugin_api::{ApiError, InstanceInfo, cursor};

/// The SQL condition (over `communities`) of a readable community.
pub const VISIBLE: &str = "NOT deleted AND handle IS NOT NULL AND status = 'active'";

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size; larger requests are clamped.
pub const MAX_LIMIT: i64 = 100;
/// Longest search text accepted (bytes).
pub const MAX_SEARCH_BYTES: usize = 512;

/// The columns [`CommunityRow`] reads.
const COLUMNS: &str = "did, handle, name, display_name, description, description_facets, avatar_cid, banner_cid, \
     created_by, hosted_by, visibility, moderation_type, content_warnings, allow_external_discovery, created_at, \
     pds_endpoint, subscriber_count, post_count, member_count, indexed_at";

/// A readable community.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct CommunityRow {
    #[diesel(sql_type = Text)]
    pub did: String,
    /// The verified handle (lowercase).
    #[diesel(sql_type = Text)]
    pub handle: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub description: Option<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub description_facets: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<Text>)]
    pub avatar_cid: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub banner_cid: Option<String>,
    #[diesel(sql_type = Text)]
    pub created_by: String,
    #[diesel(sql_type = Text)]
    pub hosted_by: String,
    #[diesel(sql_type = Text)]
    pub visibility: String,
    #[diesel(sql_type = Text)]
    pub moderation_type: String,
    #[diesel(sql_type = Array<Text>)]
    pub content_warnings: Vec<String>,
    #[diesel(sql_type = Bool)]
    pub allow_external_discovery: bool,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// The community's PDS, from its DID document at verification (for blob URLs).
    #[diesel(sql_type = Nullable<Text>)]
    pub pds_endpoint: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub subscriber_count: i64,
    #[diesel(sql_type = BigInt)]
    pub post_count: i64,
    #[diesel(sql_type = BigInt)]
    pub member_count: i64,
    #[diesel(sql_type = Timestamptz)]
    pub indexed_at: DateTime<Utc>,
}

impl CommunityRow {
    /// `!name@instance` (COVES_API §3.1), or the handle when it has another shape.
    pub fn display_handle(&self) -> String {
        display_handle(&self.handle)
    }

    /// The avatar's absolute URL at `preset` (`AvatarSmall` in lists, `Avatar` in full
    /// views), if there is an avatar and a way to serve it.
    pub fn avatar_url(&self, instance: &InstanceInfo, preset: ImagePreset) -> Option<String> {
        let cid = self.avatar_cid.as_deref()?;
        blob_url(instance, self.pds_endpoint.as_deref(), &self.did, cid, preset)
    }

    /// The banner's absolute URL.
    pub fn banner_url(&self, instance: &InstanceInfo) -> Option<String> {
        let cid = self.banner_cid.as_deref()?;
        blob_url(instance, self.pds_endpoint.as_deref(), &self.did, cid, ImagePreset::Banner)
    }
}

#[derive(QueryableByName)]
struct DidRow {
    #[diesel(sql_type = Text)]
    did: String,
}

/// The DID of the readable community `id` names, if any. Takes any connection, so other
/// plugins can resolve inside their ingest transaction too.
pub async fn resolve_community(conn: &mut AsyncPgConnection, id: &CommunityId) -> QueryResult<Option<String>> {
    let (column, value) = match id {
        CommunityId::Did(did) => ("did", did.as_str().to_owned()),
        CommunityId::Handle(handle) => ("handle", handle.as_str().to_ascii_lowercase()),
    };
    let row: Option<DidRow> =
        sql_query(format!("/* community::resolve */ SELECT did FROM communities WHERE {column} = $1 AND {VISIBLE}"))
            .bind::<Text, _>(value)
            .get_result(conn)
            .await
            .optional()?;
    Ok(row.map(|r| r.did))
}

/// Parses a community identifier from a request and resolves it: `Ok(None)` for a
/// well-formed identifier naming no readable community (the caller answers its own
/// not-found error), 400 `InvalidRequest` naming the accepted forms for a malformed one.
pub async fn resolve_community_param(
    conn: &mut AsyncPgConnection,
    raw: &str,
    instance: &InstanceInfo,
) -> Result<Option<String>, ApiError> {
    let id = parse_community_id(raw, &instance.domains)?;
    Ok(resolve_community(conn, &id).await?)
}

/// The readable community `id` names.
pub async fn find_community(conn: &mut AsyncPgConnection, id: &CommunityId) -> QueryResult<Option<CommunityRow>> {
    let (column, value) = match id {
        CommunityId::Did(did) => ("did", did.as_str().to_owned()),
        CommunityId::Handle(handle) => ("handle", handle.as_str().to_ascii_lowercase()),
    };
    sql_query(format!(
        "/* community::find_community */ SELECT {COLUMNS} FROM communities WHERE {column} = $1 AND {VISIBLE}"
    ))
    .bind::<Text, _>(value)
    .get_result(conn)
    .await
    .optional()
}

/// The readable communities among `dids` (any order; unknown or hidden ones are absent):
/// for views that show the community of many items at once.
pub async fn find_communities(conn: &mut AsyncPgConnection, dids: &[&str]) -> QueryResult<Vec<CommunityRow>> {
    if dids.is_empty() {
        return Ok(Vec::new());
    }
    sql_query(format!(
        "/* community::find_communities */ SELECT {COLUMNS} FROM communities WHERE did = ANY($1) AND {VISIBLE}"
    ))
    .bind::<Array<Text>, _>(dids)
    .load(conn)
    .await
}

/// List orders (COVES_API §4.2, §4.3); every order ends with `did` ascending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommunitySort {
    /// Most subscribers first.
    Popular,
    /// Most posts first.
    Active,
    /// Newest `createdAt` first.
    New,
    /// By name.
    Alphabetical,
    /// Best search match first, then most subscribers (needs a search text).
    Relevance,
}

impl CommunitySort {
    /// The XRPC `sort` values, in the order error messages list them.
    pub const PARAM_VALUES: &'static str = "popular, active, new or alphabetical";

    /// Reads the XRPC `sort` parameter (relevance is implied by `search`, not chosen).
    pub fn from_param(raw: &str) -> Option<Self> {
        match raw {
            "popular" => Some(Self::Popular),
            "active" => Some(Self::Active),
            "new" => Some(Self::New),
            "alphabetical" => Some(Self::Alphabetical),
            _ => None,
        }
    }

    /// The name cursors are scoped by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Popular => "popular",
            Self::Active => "active",
            Self::New => "new",
            Self::Alphabetical => "alphabetical",
            Self::Relevance => "relevance",
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            Self::Popular => "subscriber_count DESC, did",
            Self::Active => "post_count DESC, did",
            Self::New => "created_at DESC, did",
            Self::Alphabetical => "name, did",
            Self::Relevance => "relevance DESC, subscriber_count DESC, did",
        }
    }

    /// Strictly after the cursor's item ($4 count, $5 name, $6 createdAt, $7 relevance,
    /// $8 did).
    fn after(self) -> &'static str {
        match self {
            // The redundant `<=` bound lets the index scan start at the cursor.
            Self::Popular => "(subscriber_count <= $4 AND (subscriber_count < $4 OR did > $8))",
            Self::Active => "(post_count <= $4 AND (post_count < $4 OR did > $8))",
            Self::New => "(created_at <= $6 AND (created_at < $6 OR did > $8))",
            Self::Alphabetical => "((name, did) > ($5, $8))",
            Self::Relevance => {
                "(relevance < $7 OR (relevance = $7 AND \
                 (subscriber_count < $4 OR (subscriber_count = $4 AND did > $8))))"
            }
        }
    }
}

/// The known `visibility` values, as list filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Unlisted,
    Private,
}

impl Visibility {
    /// The XRPC `visibility` values, for error messages.
    pub const PARAM_VALUES: &'static str = "public, unlisted or private";

    /// Reads the XRPC `visibility` parameter.
    pub fn from_param(raw: &str) -> Option<Self> {
        match raw {
            "public" => Some(Self::Public),
            "unlisted" => Some(Self::Unlisted),
            "private" => Some(Self::Private),
            _ => None,
        }
    }

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Unlisted => "unlisted",
            Self::Private => "private",
        }
    }
}

/// What to list.
#[derive(Clone, Debug)]
pub struct ListQuery<'a> {
    pub sort: CommunitySort,
    /// Only communities with this visibility; all when `None`.
    pub visibility: Option<Visibility>,
    /// Case-insensitive search in name, display name and description (substring or
    /// trigram word match); required by [`CommunitySort::Relevance`].
    pub search: Option<&'a str>,
    /// Only these communities (DIDs): a viewer's subscriptions; all when `None`.
    pub only: Option<&'a [String]>,
    /// Page size, already clamped (see [`clamp_limit`]).
    pub limit: i64,
    /// Continue after this cursor of a previous page.
    pub after: Option<&'a str>,
}

/// One page of a community list.
pub type CommunityPage = Page<CommunityRow>;

/// Clamps a requested page size to 1..=100 (COVES_API §4.2: clamped, not refused).
pub fn clamp_limit(requested: i64) -> i64 {
    requested.clamp(1, MAX_LIMIT)
}

#[derive(QueryableByName)]
struct ListedRow {
    #[diesel(embed)]
    community: CommunityRow,
    #[diesel(sql_type = Float4)]
    relevance: f32,
}

/// Keys of the position after an item; which are used depends on the sort.
#[derive(Default)]
struct After {
    count: Option<i64>,
    name: Option<String>,
    created_at: Option<DateTime<Utc>>,
    relevance: Option<f32>,
    did: Option<String>,
}

/// The search text as matched: trimmed, lowercase; `None` when blank.
fn normalize_search(search: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = search.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    if text.len() > MAX_SEARCH_BYTES {
        return Err(ApiError::invalid_request(format!(
            "the search text is {} bytes long; at most {MAX_SEARCH_BYTES} are allowed",
            text.len()
        )));
    }
    Ok(Some(text.to_lowercase()))
}

/// Cursors are scoped by the sort and, for searches, by the search text, so a cursor
/// cannot continue a different list.
fn cursor_scope(sort: CommunitySort, search: Option<&str>) -> String {
    match search {
        Some(text) => format!("{}:{text}", sort.as_str()),
        None => sort.as_str().to_owned(),
    }
}

fn encode_after(sort: CommunitySort, scope: &str, row: &CommunityRow, relevance: f32) -> String {
    match sort {
        CommunitySort::Popular => cursor::encode(scope, &(row.subscriber_count, &row.did)),
        CommunitySort::Active => cursor::encode(scope, &(row.post_count, &row.did)),
        CommunitySort::New => cursor::encode(scope, &(row.created_at.timestamp_micros(), &row.did)),
        CommunitySort::Alphabetical => cursor::encode(scope, &(&row.name, &row.did)),
        CommunitySort::Relevance => cursor::encode(scope, &(relevance, row.subscriber_count, &row.did)),
    }
}

fn decode_after(sort: CommunitySort, scope: &str, raw: &str) -> Result<After, ApiError> {
    Ok(match sort {
        CommunitySort::Popular | CommunitySort::Active => {
            let (count, did): (i64, String) = cursor::decode(raw, scope)?;
            After { count: Some(count), did: Some(did), ..After::default() }
        }
        CommunitySort::New => {
            let (micros, did): (i64, String) = cursor::decode(raw, scope)?;
            let created_at = DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| ApiError::invalid_cursor("cursor is not one this server issued"))?;
            After { created_at: Some(created_at), did: Some(did), ..After::default() }
        }
        CommunitySort::Alphabetical => {
            let (name, did): (String, String) = cursor::decode(raw, scope)?;
            After { name: Some(name), did: Some(did), ..After::default() }
        }
        CommunitySort::Relevance => {
            let (relevance, count, did): (f32, i64, String) = cursor::decode(raw, scope)?;
            After { relevance: Some(relevance), count: Some(count), did: Some(did), ..After::default() }
        }
    })
}

/// A `LIKE` pattern matching `text` anywhere.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Matching rows: $1 visibility, $2 search text (lowercase), $3 its LIKE pattern.
const FILTER: &str = "($1::text IS NULL OR visibility = $1) \
     AND ($2::text IS NULL OR search_text LIKE $3 OR $2 <% search_text)";

/// Only the listed DIDs ($10), when given.
const ONLY: &str = "($10::text[] IS NULL OR did = ANY($10))";

/// How well a row matches $2: an exact name beats a name containing the text, which beats
/// a match elsewhere; trigram word similarity orders the rest.
const RELEVANCE: &str = "CASE WHEN $2::text IS NULL THEN 0::real \
     ELSE ((lower(name) = $2)::int * 2 + (lower(name) LIKE $3)::int)::real + word_similarity($2, search_text) END";

/// One page of readable communities.
pub async fn list_communities(conn: &mut AsyncPgConnection, query: &ListQuery<'_>) -> Result<CommunityPage, ApiError> {
    let search = normalize_search(query.search)?;
    if query.sort == CommunitySort::Relevance && search.is_none() {
        return Err(ApiError::invalid_request("sorting by relevance needs a search text"));
    }
    let scope = cursor_scope(query.sort, search.as_deref());
    let after = match query.after {
        Some(raw) => decode_after(query.sort, &scope, raw)?,
        None => After::default(),
    };
    let limit = clamp_limit(query.limit);
    let sql = format!(
        "/* community::list_communities */ SELECT * FROM ( \
           SELECT {COLUMNS}, {RELEVANCE} AS relevance FROM communities WHERE {VISIBLE} AND {FILTER} AND {ONLY}) c \
         WHERE ($8::text IS NULL OR {after}) ORDER BY {order} LIMIT $9",
        after = query.sort.after(),
        order = query.sort.order_by(),
    );
    let rows: Vec<ListedRow> = sql_query(sql)
        .bind::<Nullable<Text>, _>(query.visibility.map(Visibility::as_str))
        .bind::<Nullable<Text>, _>(search.as_deref())
        .bind::<Nullable<Text>, _>(search.as_deref().map(contains_pattern))
        .bind::<Nullable<BigInt>, _>(after.count)
        .bind::<Nullable<Text>, _>(after.name)
        .bind::<Nullable<Timestamptz>, _>(after.created_at)
        .bind::<Nullable<Float4>, _>(after.relevance)
        .bind::<Nullable<Text>, _>(after.did)
        .bind::<BigInt, _>(limit + 1)
        .bind::<Nullable<Array<Text>>, _>(query.only)
        .load(conn)
        .await?;
    let (rows, has_more) = cursor::split_page(rows, usize::try_from(limit).unwrap_or(usize::MAX));
    let items = rows
        .into_iter()
        .map(|r| Listed { cursor: encode_after(query.sort, &scope, &r.community, r.relevance), item: r.community })
        .collect();
    Ok(CommunityPage { items, has_more })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many readable communities match a search (and a visibility).
pub async fn count_communities(
    conn: &mut AsyncPgConnection,
    search: Option<&str>,
    visibility: Option<Visibility>,
) -> Result<i64, ApiError> {
    let search = normalize_search(search)?;
    let count: Count = sql_query(format!(
        "/* community::count_communities */ SELECT count(*) AS n FROM communities WHERE {VISIBLE} AND {FILTER}"
    ))
    .bind::<Nullable<Text>, _>(visibility.map(Visibility::as_str))
    .bind::<Nullable<Text>, _>(search.as_deref())
    .bind::<Nullable<Text>, _>(search.as_deref().map(contains_pattern))
    .get_result(conn)
    .await?;
    Ok(count.n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> CommunityRow {
        CommunityRow {
            did: "did:plc:community23456789abcdefgh".into(),
            handle: "c-gaming.coves.social".into(),
            name: "gaming".into(),
            display_name: None,
            description: None,
            description_facets: None,
            avatar_cid: Some("bafkreiavatar".into()),
            banner_cid: None,
            created_by: "did:plc:ewvi7nxzyoun6zhxrhs64oiz".into(),
            hosted_by: "did:web:coves.social".into(),
            visibility: "public".into(),
            moderation_type: "moderator".into(),
            content_warnings: Vec::new(),
            allow_external_discovery: true,
            created_at: DateTime::from_timestamp_micros(1_767_268_800_123_456).expect("valid"),
            pds_endpoint: Some("https://pds.coves.social".into()),
            subscriber_count: 7,
            post_count: 3,
            member_count: 0,
            indexed_at: Utc::now(),
        }
    }

    #[test]
    fn display_handles_follow_the_handle() {
        let mut community = row();
        assert_eq!(community.display_handle(), "!gaming@coves.social");
        community.handle = "c-gaming.coves.co.uk".into();
        assert_eq!(community.display_handle(), "!gaming@coves.co.uk");
        community.handle = "gaming.community.coves.social".into();
        assert_eq!(community.display_handle(), "gaming.community.coves.social");
    }

    #[test]
    fn image_urls_use_the_proxy_or_the_pds() {
        let mut instance = InstanceInfo::default();
        let community = row();
        assert_eq!(
            community.avatar_url(&instance, ImagePreset::AvatarSmall).as_deref(),
            Some(
                "https://pds.coves.social/xrpc/com.atproto.sync.getBlob?did=did%3Aplc%3Acommunity23456789abcdefgh&cid=bafkreiavatar"
            )
        );
        assert_eq!(community.banner_url(&instance), None);
        instance.image_proxy_url = Some("https://img.coves.social".into());
        assert_eq!(
            community.avatar_url(&instance, ImagePreset::AvatarSmall).as_deref(),
            Some("https://img.coves.social/img/avatar_small/plain/did:plc:community23456789abcdefgh/bafkreiavatar")
        );
    }

    #[test]
    fn cursors_are_scoped_by_sort_and_search() {
        let community = row();
        for sort in [CommunitySort::Popular, CommunitySort::Active, CommunitySort::New, CommunitySort::Alphabetical] {
            let scope = cursor_scope(sort, None);
            let raw = encode_after(sort, &scope, &community, 0.0);
            let after = decode_after(sort, &scope, &raw).expect("own cursor decodes");
            assert_eq!(after.did.as_deref(), Some(community.did.as_str()), "{sort:?}");
            let other = if sort == CommunitySort::New { CommunitySort::Popular } else { CommunitySort::New };
            let error = decode_after(other, &cursor_scope(other, None), &raw).err().expect("other sort refused");
            assert_eq!(error.name, "InvalidCursor");
        }
        let after = decode_after(CommunitySort::New, "new", &encode_after(CommunitySort::New, "new", &community, 0.0))
            .expect("decodes");
        assert_eq!(after.created_at, Some(community.created_at), "microseconds survive");

        let scope = cursor_scope(CommunitySort::Relevance, Some("games"));
        let raw = encode_after(CommunitySort::Relevance, &scope, &community, 1.25);
        let after = decode_after(CommunitySort::Relevance, &scope, &raw).expect("decodes");
        assert_eq!((after.relevance, after.count), (Some(1.25), Some(7)));
        let other_search = cursor_scope(CommunitySort::Relevance, Some("gardening"));
        assert!(decode_after(CommunitySort::Relevance, &other_search, &raw).is_err());
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn params() {
        assert_eq!(CommunitySort::from_param("alphabetical"), Some(CommunitySort::Alphabetical));
        assert_eq!(CommunitySort::from_param("relevance"), None);
        assert_eq!(CommunitySort::from_param("Popular"), None);
        assert_eq!(Visibility::from_param("private"), Some(Visibility::Private));
        assert_eq!(Visibility::from_param("secret"), None);
        assert_eq!((clamp_limit(500), clamp_limit(0), clamp_limit(-3), clamp_limit(20)), (100, 1, 1, 20));
        assert_eq!(normalize_search(Some("  Games ")).expect("ok").as_deref(), Some("games"));
        assert_eq!(normalize_search(Some("   ")).expect("ok"), None);
        assert!(normalize_search(Some(&"x".repeat(600))).is_err());
    }
}
