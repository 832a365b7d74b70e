//! XRPC dispatch and the `{"error","message"}` error shape.

use coves_appview::graphql::GraphqlLimits;
use coves_tests::TestApp;
use serde_json::json;

use crate::test_plugins::Alpha;

#[tokio::test]
async fn dispatches_to_the_plugin_with_parameters() {
    let app = TestApp::with_plugins(vec![&Alpha], GraphqlLimits::default()).await;
    let response = app.get("/xrpc/test.alpha.echo?text=hi&text=again&unknown=ignored").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(response.body, json!({"echo": "hi", "all": ["hi", "again"]}));

    let response = app.post("/xrpc/test.alpha.submit", json!({"a": 1})).await;
    assert_eq!((response.status, response.body), (200, json!({"bytes": 7})));
}

#[tokio::test]
async fn errors_have_the_xrpc_shape() {
    let app = TestApp::with_plugins(vec![&Alpha], GraphqlLimits::default()).await;

    let unknown = app.get("/xrpc/social.coves.nothing.here").await;
    assert_eq!(unknown.status, 501);
    assert_eq!(
        unknown.body,
        json!({"error": "MethodNotImplemented", "message": "method social.coves.nothing.here is not implemented by this AppView"})
    );

    let missing = app.get("/xrpc/test.alpha.echo").await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body, json!({"error": "InvalidRequest", "message": "text parameter is required"}));

    let wrong_method = app.post("/xrpc/test.alpha.echo?text=x", json!({})).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.body["error"], "InvalidRequest");
    assert_eq!(wrong_method.body["message"], "test.alpha.echo is an XRPC query: call it with GET");

    let procedure_by_get = app.get("/xrpc/test.alpha.submit").await;
    assert_eq!(procedure_by_get.status, 405);
    assert_eq!(procedure_by_get.body["message"], "test.alpha.submit is an XRPC procedure: call it with POST");
}
