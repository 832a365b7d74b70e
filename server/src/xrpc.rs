//! `/xrpc/<nsid>`: dispatch to the plugins' XRPC methods, with XRPC-shaped errors.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use coves_plugin_api::{ApiError, Plugin, QueryParams, XrpcKind, XrpcMethod, XrpcRequest};

use crate::app::AppState;
use crate::auth::Endpoint;

/// The largest procedure body read; a larger one is handed over empty (handlers then
/// answer from a template rather than echoing client data).
const MAX_PROCEDURE_BODY: usize = 64 * 1024;

/// Every XRPC method of every plugin, by NSID.
#[derive(Clone, Default)]
pub struct XrpcRouter {
    methods: Arc<BTreeMap<&'static str, (XrpcMethod, &'static str)>>,
}

/// Two plugins serve the same NSID.
#[derive(Debug, thiserror::Error)]
#[error("XRPC method {nsid} is served by both plugin `{first}` and plugin `{second}`")]
pub struct DuplicateMethod {
    nsid: &'static str,
    first: &'static str,
    second: &'static str,
}

impl XrpcRouter {
    /// Collects the methods; refuses duplicates.
    pub fn new(plugins: &[&'static dyn Plugin]) -> Result<Self, DuplicateMethod> {
        let mut methods: BTreeMap<&'static str, (XrpcMethod, &'static str)> = BTreeMap::new();
        for plugin in plugins {
            for method in plugin.xrpc_methods() {
                if let Some((_, first)) = methods.get(method.nsid) {
                    return Err(DuplicateMethod { nsid: method.nsid, first, second: plugin.name() });
                }
                methods.insert(method.nsid, (method, plugin.name()));
            }
        }
        Ok(Self { methods: Arc::new(methods) })
    }

    /// The served NSIDs, sorted, each with its owning plugin.
    pub fn methods(&self) -> impl Iterator<Item = (&'static str, XrpcKind, &'static str)> + '_ {
        self.methods.iter().map(|(nsid, (m, owner))| (*nsid, m.kind, *owner))
    }
}

/// Handles every HTTP method on `/xrpc/<nsid>`.
///
/// Queries answer `GET`, procedures `POST`; the other of the two is 405 naming the right
/// one. Any other HTTP method is 405 as on every route, except for methods declared
/// [`XrpcMethod::accepting_any_method`] (the `WriteDirectlyToPDS` procedures, COVES_API
/// §1.3), whose handler answers whatever the HTTP method.
///
/// A refused bearer token never fails the request by itself (COVES_API §4.0: the mobile
/// app signs out on 401): the handler gets an anonymous [`coves_plugin_api::Viewer`] that
/// remembers why, and answers 401 only if it requires a viewer.
pub async fn dispatch(
    State(state): State<AppState>,
    Path(nsid): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let found = state.xrpc.methods.get(nsid.as_str());
    let any_method = found.is_some_and(|(m, _)| m.any_method);
    if !any_method && ![Method::GET, Method::HEAD, Method::POST].contains(&method) {
        // What the router answered before it sent every method here.
        return error_response(&ApiError::new(
            405,
            "InvalidRequest",
            format!("{method} is not allowed on {}", uri.path()),
        ));
    }
    let Some((xrpc_method, _)) = found else {
        return error_response(&ApiError::method_not_implemented(&nsid));
    };
    let expected = match xrpc_method.kind {
        XrpcKind::Query => Method::GET,
        XrpcKind::Procedure => Method::POST,
    };
    if method != expected && !any_method {
        let kind = if expected == Method::GET { "query" } else { "procedure" };
        return error_response(&ApiError::new(
            405,
            "InvalidRequest",
            format!("{nsid} is an XRPC {kind}: call it with {expected}"),
        ));
    }
    let params = QueryParams(url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect());
    let body = if xrpc_method.kind == XrpcKind::Procedure {
        axum::body::to_bytes(body, MAX_PROCEDURE_BODY).await.map(|b| b.to_vec()).unwrap_or_default()
    } else {
        Vec::new()
    };
    let viewer = state.auth.viewer(headers.get(header::AUTHORIZATION), Endpoint::Xrpc(&nsid)).await;
    let request = XrpcRequest { app: state.app.clone(), viewer, params, body };
    match (xrpc_method.handler)(request).await {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(error) => error_response(&error),
    }
}

/// An XRPC error as `{"error","message"}` JSON with its status.
pub fn error_response(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &error.to_json())
}

/// A JSON body with the charset clients expect.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let body = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))], body)
        .into_response()
}
