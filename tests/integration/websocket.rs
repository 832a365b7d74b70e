//! GraphQL subscriptions over a real websocket, in both subprotocols.

use coves_appview::graphql::GraphqlLimits;
use coves_tests::TestApp;
use coves_tests::ws::{Protocol, subscribe_all};
use serde_json::json;

use crate::test_plugins::Alpha;

async fn countdown_over(protocol: Protocol) {
    let app = TestApp::with_plugins(vec![&Alpha], GraphqlLimits::default()).await;
    let data = subscribe_all(&app.ws_url(), protocol, "subscription { countdown(from: 3) }").await;
    assert_eq!(
        data,
        [json!({"countdown": 3}), json!({"countdown": 2}), json!({"countdown": 1}), json!({"countdown": 0})]
    );
}

#[tokio::test]
async fn subscription_over_graphql_transport_ws() {
    countdown_over(Protocol::TransportWs).await;
}

#[tokio::test]
async fn subscription_over_legacy_graphql_ws() {
    countdown_over(Protocol::LegacyWs).await;
}

#[tokio::test]
async fn a_websocket_without_a_graphql_subprotocol_is_refused() {
    let app = TestApp::with_plugins(vec![&Alpha], GraphqlLimits::default()).await;
    let error = tokio_tungstenite::connect_async(app.ws_url()).await.expect_err("no subprotocol, no upgrade");
    let tokio_tungstenite::tungstenite::Error::Http(response) = error else {
        panic!("expected an HTTP refusal: {error}")
    };
    assert_eq!(response.status(), 400);
}
