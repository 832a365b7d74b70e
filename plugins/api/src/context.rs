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
