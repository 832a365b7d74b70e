//! `/graphql`: queries over `GET` and `POST`, subscriptions over a websocket on the same
//! path, speaking both `graphql-transport-ws` and the legacy `graphql-ws` protocol.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::http::WebSocketProtocols;
use async_graphql::{Data, ErrorExtensionValues, Response, ServerError, Value};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{FromRequest, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use coves_plugin_api::Viewer;
use serde_json::json;

use super::GraphqlLimits;
use crate::app::AppState;
use crate::auth::{Endpoint, ServiceAuth, connection_init_token};
use crate::xrpc::json_response;

/// `GET /graphql`: a websocket upgrade for subscriptions, or a query in the query string.
pub async fn graphql_get(State(state): State<AppState>, request: Request) -> HttpResponse {
    if !request.headers().contains_key(header::UPGRADE) {
        return graphql_http(state, request).await;
    }
    let (mut parts, _body) = request.into_parts();
    let offered = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(protocol) = offered.split(',').find_map(|p| p.trim().parse::<WebSocketProtocols>().ok()) else {
        return (
            StatusCode::BAD_REQUEST,
            "the websocket must offer the graphql-transport-ws or graphql-ws subprotocol",
        )
            .into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let schema = state.schema.clone();
    let auth = state.auth.clone();
    let settings = state.socket;
    let header = parts.headers.get(header::AUTHORIZATION).cloned();
    // Small buffers: GraphQL messages are small, and the default 128 KiB read buffer per
    // socket (zero-filled on every read) dominated memory and CPU with thousands of
    // subscribers (BENCHMARKS.md, live counts).
    upgrade
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            super::socket::serve(socket, schema, protocol, settings, move |payload| async move {
                let viewer = websocket_viewer(&auth, &payload, header.as_ref()).await;
                if let Some(reason) = viewer.token_error {
                    return Err(async_graphql::Error::new(close_reason(&reason)));
                }
                let mut data = Data::default();
                data.insert(viewer);
                Ok(data)
            })
        })
        .into_response()
}

/// Read and write buffer of a GraphQL websocket (a message may be larger: the buffer grows
/// for it).
const SOCKET_BUFFER: usize = 4 * 1024;
/// Largest message a client may send (a subscription request).
const MAX_CLIENT_MESSAGE: usize = 256 * 1024;

/// The viewer of a websocket: the token in the `connection_init` payload, else the upgrade
/// request's `Authorization` header, else anonymous.
async fn websocket_viewer(auth: &ServiceAuth, payload: &serde_json::Value, header: Option<&HeaderValue>) -> Viewer {
    match connection_init_token(payload) {
        Ok(Some(token)) => auth.viewer_for_token(token, Endpoint::Graphql).await,
        Ok(None) => auth.viewer(header, Endpoint::Graphql).await,
        Err(error) => Viewer::refused(error.to_string()),
    }
}

/// A websocket close reason must fit a control frame (123 bytes).
fn close_reason(reason: &str) -> String {
    let mut text = format!("InvalidToken: {reason}");
    if text.len() > 123 {
        let mut end = 120;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// `POST /graphql`: a query or mutation in a JSON body.
pub async fn graphql_post(State(state): State<AppState>, request: Request) -> HttpResponse {
    graphql_http(state, request).await
}

async fn graphql_http(state: AppState, request: Request) -> HttpResponse {
    let viewer = state.auth.viewer(request.headers().get(header::AUTHORIZATION), Endpoint::Graphql).await;
    if let Some(reason) = &viewer.token_error {
        return invalid_token(reason);
    }
    let request =
        match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(request, &()).await {
            Ok(request) => request.into_inner(),
            Err(rejection) => return rejection.into_response(),
        };
    let response = state.schema.execute(request.data(viewer)).await;
    GraphQLResponse::from(explain_limit_errors(response, state.graphql_limits)).into_response()
}

/// 401 for a presented token that was refused, GraphQL-shaped; without a token the request
/// would have been anonymous (docs/adr/0005).
fn invalid_token(reason: &str) -> HttpResponse {
    let body = json!({"errors": [{"message": reason, "extensions": {"code": "InvalidToken"}}]});
    let mut response = json_response(StatusCode::UNAUTHORIZED, &body);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    response
}

/// async-graphql's limit errors do not say what the limit is; clients need to know.
fn explain_limit_errors(mut response: Response, limits: GraphqlLimits) -> Response {
    for error in &mut response.errors {
        let (message, code) = match error.message.as_str() {
            "Query is nested too deep." => (
                format!(
                    "query is nested too deep: at most {} levels of selection are allowed; split it into smaller queries",
                    limits.max_depth
                ),
                "QUERY_TOO_DEEP",
            ),
            "Query is too complex." => (
                format!(
                    "query is too complex: its cost exceeds {}; select fewer fields or page with smaller `first`",
                    limits.max_complexity
                ),
                "QUERY_TOO_COMPLEX",
            ),
            _ => continue,
        };
        *error = with_code(ServerError::new(message, None), code);
    }
    response
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", Value::from(code));
    error.extensions = Some(extensions);
    error
}

#[cfg(test)]
mod tests {
    use super::close_reason;

    #[test]
    fn auth_close_reasons_fit_a_websocket_control_frame() {
        assert_eq!(close_reason("the token expired 90 s ago"), "InvalidToken: the token expired 90 s ago");
        let long = close_reason(&"é".repeat(200));
        assert!(long.len() <= 123 && long.starts_with("InvalidToken: ") && long.ends_with("..."), "{long}");
    }
}
