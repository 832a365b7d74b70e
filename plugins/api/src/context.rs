//! What resolvers, XRPC handlers and tasks get from the server.

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool;

use crate::error::ApiError;
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
}

/// Public facts about this AppView instance.
#[derive(Clone, Debug, Default)]
pub struct InstanceInfo {
    /// This service's DID (the `aud` of service-auth tokens), when configured.
    pub did: Option<String>,
    /// The domains whose communities this instance hosts (`!name@domain`).
    pub domains: Vec<String>,
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Viewer {
    /// The authenticated viewer's DID; `None` for anonymous requests.
    pub did: Option<Did>,
}

impl Viewer {
    /// An anonymous viewer.
    pub fn anonymous() -> Self {
        Self::default()
    }
}
