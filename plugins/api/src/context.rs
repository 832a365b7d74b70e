//! What resolvers, XRPC handlers and tasks get from the server.

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool;

use crate::error::ApiError;
use crate::identity::IdentityResolver;
use crate::live::LiveHub;
use crate::syntax::Did;

/// The PostgreSQL connection pool (diesel-async over tokio-postgres, deadpool).
pub type DbPool = deadpool::Pool<AsyncPgConnection>;
/// A connection checked out of [`DbPool`].
pub type DbConn = deadpool::Object<AsyncPgConnection>;

/// Shared state available to every plugin at request time and to background tasks.
///
/// In GraphQL resolvers it is schema data (`ctx.data::<AppContext>()`); XRPC handlers
/// receive it in [`crate::XrpcRequest`].
#[derive(Clone)]
pub struct AppContext {
    /// The database pool. Prefer [`AppContext::conn`], which maps pool exhaustion to 503.
    pub pool: DbPool,
    /// Instance settings plugins may need when building views.
    pub instance: Arc<InstanceInfo>,
    /// DID and handle resolution (cached; makes network calls on a miss).
    pub identity: Arc<dyn IdentityResolver>,
    /// The live values behind GraphQL subscriptions.
    pub live: LiveHub,
}

/// Public facts about this AppView instance.
#[derive(Clone, Debug, Default)]
pub struct InstanceInfo {
    /// This service's DID (the `aud` of service-auth tokens), when configured.
    pub did: Option<String>,
    /// The domains whose communities this instance hosts (`!name@domain`).
    pub domains: Vec<String>,
    /// Skip fetching `did.json` when checking a community's `hostedBy` (development only).
    pub skip_did_web_verification: bool,
    /// Base URL of an image proxy/CDN (`{base}/img/{preset}/plain/{did}/{cid}`); without
    /// it image URLs point at the owner's PDS.
    pub image_proxy_url: Option<String>,
    /// Link previews (the `unfurl` plugin): what is fetched, how, and how long it is kept.
    pub unfurl: UnfurlSettings,
}

/// Settings of the link previews (`UNFURL_*`), read by the `unfurl` plugin.
#[derive(Clone, Debug)]
pub struct UnfurlSettings {
    /// Whether indexed posts' links are queued for a preview at all (`UNFURL_ENABLED`).
    /// Off: nothing is queued or fetched; previews already cached are still served.
    pub enabled: bool,
    /// Previews fetched at once by this process; `0` leaves the queue to other processes.
    pub fetch_concurrency: usize,
    /// How long a preview is fresh (not fetched again).
    pub cache_ttl: std::time::Duration,
    /// How long a failure (refused, unreachable, no metadata) is remembered.
    pub negative_ttl: std::time::Duration,
    /// Whether this process deletes expired cache rows.
    pub cleanup_enabled: bool,
    /// Time between two cleanups.
    pub cleanup_interval: std::time::Duration,
    /// Hosts (names or IP literals, lowercase) fetched even when they resolve to private
    /// or loopback addresses: local test servers, an internal proxy. Empty in production.
    pub allow_hosts: Vec<String>,
    /// oEmbed providers, tried in order before the page's own metadata.
    pub oembed_providers: Vec<OembedProvider>,
    /// Time allowed to open a connection.
    pub connect_timeout: std::time::Duration,
    /// Time allowed for a whole fetch, redirects and body included.
    pub timeout: std::time::Duration,
    /// Largest response body read; a larger one is a failure.
    pub max_bytes: usize,
    /// Requests per second to one host (a token bucket with a burst of the same size).
    pub host_rate: u32,
}

/// An oEmbed provider: URLs matching `pattern` are described by `endpoint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OembedProvider {
    /// A URL glob in oEmbed's scheme syntax: `*` matches any run of characters
    /// (`https://*.youtube.com/watch*`).
    pub pattern: String,
    /// The provider's oEmbed endpoint (`https://www.youtube.com/oembed`).
    pub endpoint: String,
}

impl Default for UnfurlSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            fetch_concurrency: 4,
            cache_ttl: std::time::Duration::from_secs(24 * 3600),
            negative_ttl: std::time::Duration::from_secs(3600),
            cleanup_enabled: true,
            cleanup_interval: std::time::Duration::from_secs(168 * 3600),
            allow_hosts: Vec::new(),
            oembed_providers: Vec::new(),
            connect_timeout: std::time::Duration::from_secs(3),
            timeout: std::time::Duration::from_secs(10),
            max_bytes: 1024 * 1024,
            host_rate: 2,
        }
    }
}

impl AppContext {
    /// Checks a connection out of the pool. The pool's wait timeout turns into a 503
    /// `NotReady` rather than a hung request.
    pub async fn conn(&self) -> Result<DbConn, ApiError> {
        self.pool.get().await.map_err(|e| {
            tracing::warn!(error = %e, "database pool unavailable");
            ApiError::not_ready("the database is not reachable right now; retry shortly")
        })
    }
}

/// Who is asking: the DID from a verified service-auth token, or anonymous.
///
/// A request whose token failed verification is anonymous too, but remembers why, so an
/// endpoint that requires a viewer can say what was wrong with the token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Viewer {
    /// The authenticated viewer's DID; `None` for anonymous requests.
    pub did: Option<Did>,
    /// Why a presented token was refused (`None` when there was no token or it was valid).
    pub token_error: Option<String>,
}

impl Viewer {
    /// An anonymous viewer (no token).
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A viewer identified by a verified token.
    pub fn authenticated(did: Did) -> Self {
        Self { did: Some(did), token_error: None }
    }

    /// A request whose token was refused, for `reason`.
    pub fn refused(reason: impl Into<String>) -> Self {
        Self { did: None, token_error: Some(reason.into()) }
    }

    /// The viewer's DID, or 401 `AuthenticationRequired` saying what is missing or wrong.
    pub fn require(&self) -> Result<&Did, ApiError> {
        match (&self.did, &self.token_error) {
            (Some(did), _) => Ok(did),
            (None, Some(reason)) => Err(ApiError::authentication_required(format!(
                "this request needs a signed-in viewer, but the bearer token was refused: {reason}"
            ))),
            (None, None) => Err(ApiError::authentication_required(
                "this request needs a signed-in viewer: send Authorization: Bearer <atproto service-auth token>",
            )),
        }
    }
}

/// Makes the current transaction's commit return without waiting for its WAL flush
/// (`SET LOCAL synchronous_commit = off`; a crash may lose it, never corrupt anything).
///
/// For writes whose loss is harmless — identity caches, results of checks that are redone
/// when missing — so they do not queue behind the ingest's commits for the disk. Never
/// for records, counters or the stream cursor. Call it first inside the transaction.
pub async fn skip_commit_wait(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SET LOCAL synchronous_commit = off").execute(conn).await.map(|_| ())
}
