//! XRPC methods: `GET /xrpc/<nsid>` (queries) and `POST /xrpc/<nsid>` (procedures).

use futures::future::BoxFuture;

use crate::context::{AppContext, Viewer};
use crate::error::ApiError;

/// What an XRPC handler answers: a JSON body with status 200, or an [`ApiError`].
pub type XrpcResult = Result<serde_json::Value, ApiError>;

/// The handler function type. Closures without captures coerce to it.
pub type XrpcHandler = fn(XrpcRequest) -> BoxFuture<'static, XrpcResult>;

/// Whether a method is read with `GET` or called with `POST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XrpcKind {
    /// Read-only, `GET` with query parameters.
    Query,
    /// `POST` with a JSON body.
    Procedure,
}

/// One XRPC method a plugin serves.
#[derive(Clone)]
pub struct XrpcMethod {
    /// The method's NSID, e.g. `social.coves.actor.getProfile`.
    pub nsid: &'static str,
    /// Query or procedure.
    pub kind: XrpcKind,
    /// The handler.
    pub handler: XrpcHandler,
    /// Whether the server hands every HTTP method to the handler instead of answering 405
    /// for the wrong one. Only for procedures whose answer must not depend on the method:
    /// the write procedures of [`crate::write_directly`] (COVES_API §1.3, "for any HTTP
    /// method"). Set it with [`XrpcMethod::accepting_any_method`].
    pub any_method: bool,
}

impl XrpcMethod {
    /// A `GET` method.
    pub fn query(nsid: &'static str, handler: XrpcHandler) -> Self {
        Self { nsid, kind: XrpcKind::Query, handler, any_method: false }
    }

    /// A `POST` method.
    pub fn procedure(nsid: &'static str, handler: XrpcHandler) -> Self {
        Self { nsid, kind: XrpcKind::Procedure, handler, any_method: false }
    }

    /// The same method, but called with any HTTP method (`GET`, `PUT`, ... as well as the
    /// usual one), each getting the handler's answer rather than 405. The body, if any, is
    /// read as for a procedure. Meant for answers that are the same whatever the caller
    /// does, such as [`crate::write_directly`]'s; ordinary methods keep their 405.
    pub fn accepting_any_method(mut self) -> Self {
        self.any_method = true;
        self
    }
}

/// A decoded XRPC request.
pub struct XrpcRequest {
    /// Shared state.
    pub app: AppContext,
    /// Who is asking.
    pub viewer: Viewer,
    /// Query-string parameters.
    pub params: QueryParams,
    /// The request body (procedures only, at most 64 KiB, empty when larger; empty for
    /// queries).
    pub body: Vec<u8>,
}

/// Query-string parameters in request order. XRPC arrays are repeated keys.
#[derive(Clone, Debug, Default)]
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    /// The first value of `name`, if present (a repeated scalar takes its first value).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or `InvalidRequest` saying it is required.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::invalid_request(format!("{name} parameter is required"))),
        }
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}
