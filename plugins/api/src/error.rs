//! The one error type at the API boundary, shared by XRPC and GraphQL.
//!
//! Every failure a client can see has a stable `name` (the XRPC `error` field and the
//! GraphQL `extensions.code`) and a message that says what to fix. Internal causes are
//! logged, never sent.

use std::borrow::Cow;

/// An error answered to a client: HTTP status, stable name, human message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ApiError {
    /// HTTP status for XRPC answers.
    pub status: u16,
    /// Stable machine-readable name, e.g. `InvalidRequest`, `NotFound`.
    pub name: Cow<'static, str>,
    /// One sentence saying what went wrong and what to change.
    pub message: String,
    /// Extra keys merged into the XRPC JSON body (e.g. `WriteDirectlyToPDS` details).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// An error with any status and name.
    pub fn new(status: u16, name: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { status, name: name.into(), message: message.into(), extra: Default::default() }
    }

    /// 400 `InvalidRequest`: the request is malformed; the message says how.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", message)
    }

    /// 400 `InvalidCursor`: a pagination cursor that this server did not issue for this query.
    pub fn invalid_cursor(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidCursor", message)
    }

    /// 404 with an endpoint-specific name such as `ProfileNotFound`.
    pub fn not_found(name: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(404, name, message)
    }

    /// 401 `AuthenticationRequired`.
    pub fn authentication_required(message: impl Into<String>) -> Self {
        Self::new(401, "AuthenticationRequired", message)
    }

    /// 403 `Forbidden`: the viewer is known (or anonymous) but may not see this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 501 `MethodNotImplemented`: this server does not offer the method at all.
    pub fn method_not_implemented(nsid: &str) -> Self {
        Self::new(501, "MethodNotImplemented", format!("method {nsid} is not implemented by this AppView"))
    }

    /// 503 `NotReady`: a dependency (usually the database pool) is not available right now.
    pub fn not_ready(message: impl Into<String>) -> Self {
        Self::new(503, "NotReady", message)
    }

    /// 500 `InternalServerError`. The cause is logged here and not shown to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error answered as 500");
        Self::new(500, "InternalServerError", "internal server error; the cause is in the server log")
    }

    /// Adds an extra key to the XRPC body.
    pub fn with_extra(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The XRPC JSON body: `{"error", "message", ...extra}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = self.extra.clone();
        body.insert("error".into(), self.name.as_ref().into());
        body.insert("message".into(), self.message.clone().into());
        serde_json::Value::Object(body)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        Self::internal(format_args!("database: {e}"))
    }
}

/// GraphQL resolvers answer `Err(e.extend())`: the message plus `extensions.code` = name.
/// (A bare `?` would also compile, through async-graphql's blanket `From<Display>`, but
/// loses the code.)
impl async_graphql::ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        let name = self.name.clone();
        async_graphql::Error::new(self.message.clone()).extend_with(|_, ext| ext.set("code", name.as_ref()))
    }
}
