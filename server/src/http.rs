//! The HTTP application: routes, request ids, tracing, and the operational endpoints.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get};
use coves_plugin_api::ApiError;
use diesel_async::RunQueryDsl;
use serde_json::json;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::app::AppState;
use crate::graphql::http::{graphql_get, graphql_post};
use crate::xrpc::{dispatch, error_response, json_response};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// All routes with their middleware.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        // Every HTTP method: `dispatch` answers 405 itself, except for the procedures that
        // answer whatever the method (`XrpcMethod::accepting_any_method`).
        .route("/xrpc/{nsid}", any(dispatch));
    let api = if state.serve_playground { api.merge(crate::playground::routes()) } else { api };
    let routes = if state.serve_api { api } else { Router::new() };
    routes
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(record_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", id, method = %request.method(), path = %request.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Liveness: the process answers.
async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

/// Readiness: the database answers within a second.
async fn ready(State(state): State<AppState>) -> Response {
    let check = async {
        let mut conn = state.app.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.map_err(ApiError::from)?;
        Ok::<_, ApiError>(())
    };
    if !matches!(tokio::time::timeout(Duration::from_secs(1), check).await, Ok(Ok(()))) {
        return error_response(&ApiError::not_ready("the database is not reachable"));
    }
    if let Some((status, max_lag)) = &state.ingest
        && let Some(lag) = status.lag()
        && !max_lag.is_zero()
        && lag > *max_lag
    {
        return error_response(&ApiError::not_ready(format!(
            "ingest lags the stream by {} s (INGEST_READY_MAX_LAG is {} s)",
            lag.as_secs(),
            max_lag.as_secs()
        )));
    }
    json_response(StatusCode::OK, &json!({"status": "ready"}))
}

/// Prometheus text exposition.
async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = Response::new(state.metrics.render().into());
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn not_found(request: Request) -> Response {
    error_response(&ApiError::not_found(
        "NotFound",
        format!("no route for {} {}", request.method(), request.uri().path()),
    ))
}

async fn method_not_allowed(request: Request) -> Response {
    error_response(&ApiError::new(
        405,
        "InvalidRequest",
        format!("{} is not allowed on {}", request.method(), request.uri().path()),
    ))
}

/// Counts requests and their latency by matched route and status.
async fn record_metrics(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}
