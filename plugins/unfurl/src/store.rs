//! The preview cache: reads for the APIs, writes of the fetch task, and the cleanup.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::QueryResult;
use coves_plugin_api::diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::parse::Preview;

/// Rows deleted per statement by the cleanup, so no statement holds many locks for long.
pub const CLEANUP_CHUNK: i64 = 1000;

/// A cached preview, as the APIs show it.
#[derive(QueryableByName, Clone, Debug, PartialEq, Eq)]
pub struct CachedPreview {
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub description: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub image_url: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub site_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub provider: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub fetched_at: DateTime<Utc>,
}

const PREVIEW_COLUMNS: &str =
    "c.url, c.title, c.description, c.image_url, c.site_name, c.kind, c.provider, c.fetched_at";

/// The cached preview of each link (successful fetches only; an entry past its
/// `expires_at` is still shown until the cleanup deletes it: expiry only means "fetch
/// again when a post links it next").
pub async fn previews_by_url(conn: &mut AsyncPgConnection, urls: &[String]) -> QueryResult<Vec<CachedPreview>> {
    sql_query(format!(
        "/* unfurl::previews_by_url */ SELECT {PREVIEW_COLUMNS} FROM unfurl_cache c WHERE c.url = ANY($1) AND c.ok"
    ))
    .bind::<Array<Text>, _>(urls)
    .load(conn)
    .await
}

#[derive(QueryableByName)]
struct PostPreview {
    #[diesel(sql_type = Text)]
    post_uri: String,
    #[diesel(embed)]
    preview: CachedPreview,
}

/// The cached preview of each post's link, by post URI.
pub async fn previews_by_post(
    conn: &mut AsyncPgConnection,
    post_uris: &[String],
) -> QueryResult<HashMap<String, CachedPreview>> {
    let rows: Vec<PostPreview> = sql_query(format!(
        "/* unfurl::previews_by_post */ SELECT l.post_uri, {PREVIEW_COLUMNS} FROM unfurl_post_links l \
         JOIN unfurl_cache c ON c.url = l.url AND c.ok WHERE l.post_uri = ANY($1)"
    ))
    .bind::<Array<Text>, _>(post_uris)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.post_uri, r.preview)).collect())
}

/// Caches a preview of `url`, fresh for `ttl`.
pub async fn store_preview(
    conn: &mut AsyncPgConnection,
    url: &str,
    preview: &Preview,
    ttl: Duration,
) -> QueryResult<()> {
    sql_query(
        "/* unfurl::store_preview */ INSERT INTO unfurl_cache \
           (url, ok, title, description, image_url, site_name, kind, provider, source, error, fetched_at, expires_at) \
         VALUES ($1, true, $2, $3, $4, $5, $6, $7, $8, NULL, now(), now() + make_interval(secs => $9)) \
         ON CONFLICT (url) DO UPDATE SET ok = true, title = EXCLUDED.title, description = EXCLUDED.description, \
           image_url = EXCLUDED.image_url, site_name = EXCLUDED.site_name, kind = EXCLUDED.kind, \
           provider = EXCLUDED.provider, source = EXCLUDED.source, error = NULL, \
           fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at",
    )
    .bind::<Text, _>(url)
    .bind::<Nullable<Text>, _>(&preview.title)
    .bind::<Nullable<Text>, _>(&preview.description)
    .bind::<Nullable<Text>, _>(&preview.image_url)
    .bind::<Nullable<Text>, _>(&preview.site_name)
    .bind::<Nullable<Text>, _>(&preview.kind)
    .bind::<Nullable<Text>, _>(&preview.provider)
    .bind::<Text, _>(preview.source.as_str())
    .bind::<BigInt, _>(seconds(ttl))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Caches a failure of `url` (a negative entry) with its reason, for `ttl`.
pub async fn store_failure(conn: &mut AsyncPgConnection, url: &str, reason: &str, ttl: Duration) -> QueryResult<()> {
    sql_query(
        "/* unfurl::store_failure */ INSERT INTO unfurl_cache (url, ok, error, fetched_at, expires_at) \
         VALUES ($1, false, $2, now(), now() + make_interval(secs => $3)) \
         ON CONFLICT (url) DO UPDATE SET ok = false, title = NULL, description = NULL, image_url = NULL, \
           site_name = NULL, kind = NULL, provider = NULL, source = NULL, error = EXCLUDED.error, \
           fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at",
    )
    .bind::<Text, _>(url)
    .bind::<Text, _>(reason)
    .bind::<BigInt, _>(seconds(ttl))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Deletes expired cache rows, [`CLEANUP_CHUNK`] per statement, and returns how many.
pub async fn delete_expired(conn: &mut AsyncPgConnection) -> QueryResult<u64> {
    let mut total = 0u64;
    loop {
        let deleted = sql_query(
            "/* unfurl::delete_expired */ DELETE FROM unfurl_cache WHERE url IN \
             (SELECT url FROM unfurl_cache WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)",
        )
        .bind::<BigInt, _>(CLEANUP_CHUNK)
        .execute(conn)
        .await?;
        total += deleted as u64;
        if (deleted as i64) < CLEANUP_CHUNK {
            return Ok(total);
        }
    }
}

/// A link taken from the queue by one fetch task.
#[derive(QueryableByName, Debug)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = coves_plugin_api::diesel::sql_types::Integer)]
    pub attempts: i32,
    /// The lease: results are stored only while the row still carries it.
    #[diesel(sql_type = Timestamptz)]
    pub lease: DateTime<Utc>,
    /// The cache already holds a fresh entry (fetched since it was queued): nothing to do.
    #[diesel(sql_type = Bool)]
    pub fresh: bool,
}

/// Claims up to `limit` due links for `lease`.
pub async fn claim(conn: &mut AsyncPgConnection, limit: i64, lease: Duration) -> QueryResult<Vec<Claimed>> {
    sql_query(
        "/* unfurl::claim */ UPDATE unfurl_queue q SET due_at = now() + make_interval(secs => $2) \
         WHERE q.url IN (SELECT url FROM unfurl_queue WHERE due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING q.url, q.attempts, q.due_at AS lease, \
           EXISTS (SELECT 1 FROM unfurl_cache c WHERE c.url = q.url AND c.expires_at > now()) AS fresh",
    )
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(seconds(lease))
    .load(conn)
    .await
}

/// Removes a finished link from the queue, if the lease is still ours.
pub async fn finish(conn: &mut AsyncPgConnection, claimed: &Claimed) -> QueryResult<()> {
    sql_query("/* unfurl::finish */ DELETE FROM unfurl_queue WHERE url = $1 AND due_at = $2")
        .bind::<Text, _>(&claimed.url)
        .bind::<Timestamptz, _>(claimed.lease)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Puts a link back for a later try (`count` it as a failed attempt or not).
pub async fn retry_later(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    after: Duration,
    count: bool,
    reason: &str,
) -> QueryResult<()> {
    sql_query(
        "/* unfurl::retry_later */ UPDATE unfurl_queue SET due_at = now() + make_interval(secs => $3), \
           attempts = attempts + $4, last_error = $5 WHERE url = $1 AND due_at = $2",
    )
    .bind::<Text, _>(&claimed.url)
    .bind::<Timestamptz, _>(claimed.lease)
    .bind::<BigInt, _>(seconds(after))
    .bind::<coves_plugin_api::diesel::sql_types::Integer, _>(i32::from(count))
    .bind::<Text, _>(reason)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Whole seconds, at least 1.
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2).max(1)
}
