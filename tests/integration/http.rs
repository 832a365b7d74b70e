//! Operational endpoints, JSON errors on every path, request ids and GraphQL limits.

use coves_appview::graphql::GraphqlLimits;
use coves_tests::TestApp;
use serde_json::json;

use crate::test_plugins::Alpha;

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let app = TestApp::start().await;
    let health = app.get("/health").await;
    assert_eq!((health.status, health.body), (200, json!({"status": "ok"})));
    let ready = app.get("/ready").await;
    assert_eq!((ready.status, ready.body), (200, json!({"status": "ready"})));

    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.expect("GET /metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("http_requests_total{"), "request counter missing from:\n{text}");
    assert!(text.contains("route=\"/health\""), "{text}");
}

#[tokio::test]
async fn ready_fails_with_not_ready_when_the_database_is_gone() {
    let app = TestApp::start().await;
    app.pool.close();
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["error"], "NotReady");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::start().await;
    let missing = app.get("/no/such/page").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"error": "NotFound", "message": "no route for GET /no/such/page"}));

    let response = app.http.delete(format!("{}/health", app.base)).send().await.expect("DELETE");
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"], "InvalidRequest");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::start().await;
    let generated = app.get("/health").await;
    let id = generated.headers["x-request-id"].to_str().expect("ascii id");
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let response =
        app.http.get(format!("{}/health", app.base)).header("x-request-id", "abc-123").send().await.expect("GET");
    assert_eq!(response.headers()["x-request-id"], "abc-123", "a caller's id is kept");
}

#[tokio::test]
async fn graphql_depth_and_complexity_limits_explain_themselves() {
    let app = TestApp::with_plugins(vec![&Alpha], GraphqlLimits { max_depth: 2, max_complexity: 3 }).await;
    let deep = app.graphql("{ appview { plugins { name } } }", json!({})).await;
    assert_eq!(deep["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP", "{deep}");
    assert!(deep["errors"][0]["message"].as_str().unwrap_or_default().contains("at most 2 levels"), "{deep}");

    let wide = app.graphql("{ a: widget { name } b: widget { name } c: widget { name } }", json!({})).await;
    assert_eq!(wide["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{wide}");

    let fine = app.graphql("{ widget { name } }", json!({})).await;
    assert_eq!(fine, json!({"data": {"widget": {"name": "sprocket"}}}));
}

#[tokio::test]
async fn graphql_answers_get_queries_and_introspection() {
    let app = TestApp::start().await;
    let response =
        app.get("/graphql?query=%7B%20appview%20%7B%20plugins%20%7B%20name%20collections%20%7D%20%7D%20%7D").await;
    assert_eq!(
        response.body,
        json!({"data": {"appview": {"plugins": [
            {"name": "actor", "collections": ["social.coves.actor.profile"]},
            {"name": "community", "collections": ["social.coves.community.profile"]},
            {"name": "block", "collections": ["social.coves.community.block"]},
            {"name": "subscription", "collections": ["social.coves.community.subscription"]},
            {"name": "vote", "collections": ["social.coves.feed.vote"]},
            {"name": "post", "collections": ["social.coves.community.post"]},
            {"name": "comment", "collections": ["social.coves.community.comment"]},
            {"name": "feed", "collections": []},
            {"name": "unfurl", "collections": []},
        ]}}})
    );
    let introspection = app.graphql("{ __schema { queryType { name } types { name } } }", json!({})).await;
    let types = introspection["data"]["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "Actor"), "{introspection}");
}
