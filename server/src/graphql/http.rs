//! `/graphql`: queries over `GET` and `POST`, subscriptions over a websocket on the same
//! path, speaking both `graphql-transport-ws` and the legacy `graphql-ws` protocol.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, ErrorExtensionValues, Response, ServerError, Value};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{FromRequest, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::header;
use axum::response::{IntoResponse, Response as HttpResponse};
use coves_plugin_api::Viewer;

use super::GraphqlLimits;
use crate::app::AppState;

/// `GET /graphql`: a websocket upgrade for subscriptions, or a query in the query string.
pub async fn graphql_get(State(state): State<AppState>, request: Request) -> HttpResponse {
    if !request.headers().contains_key(header::UPGRADE) {
        return graphql_http(state, request).await;
    }
    let (mut parts, _body) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &state).await {
        Ok(protocol) => protocol,
        Err(status) => {
            return (status, "the websocket must offer the graphql-transport-ws or graphql-ws subprotocol")
                .into_response();
        }
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let schema = state.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(|_payload| async move {
                    let mut data = Data::default();
                    data.insert(Viewer::anonymous());
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

/// `POST /graphql`: a query or mutation in a JSON body.
pub async fn graphql_post(State(state): State<AppState>, request: Request) -> HttpResponse {
    graphql_http(state, request).await
}

async fn graphql_http(state: AppState, request: Request) -> HttpResponse {
    let request =
        match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(request, &()).await {
            Ok(request) => request.into_inner(),
            Err(rejection) => return rejection.into_response(),
        };
    let response = state.schema.execute(request.data(Viewer::anonymous())).await;
    GraphQLResponse::from(explain_limit_errors(response, state.graphql_limits)).into_response()
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
