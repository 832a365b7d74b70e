//! A small GraphQL-over-websocket client for both subprotocols.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The two GraphQL websocket subprotocols.
#[derive(Clone, Copy, Debug)]
pub enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library, current).
    TransportWs,
    /// `graphql-ws` (subscriptions-transport-ws, legacy).
    LegacyWs,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyWs => "graphql-ws",
        }
    }
}

/// Runs one subscription to completion and returns each `data` payload, in order.
/// Fails the test if the server sends an error or nothing arrives for 10 s.
pub async fn subscribe_all(url: &str, protocol: Protocol, query: &str) -> Vec<Value> {
    let mut request = url.into_client_request().expect("ws URL");
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol.name()));
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("websocket connects");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()),
        Some(protocol.name()),
        "the server must accept the offered subprotocol"
    );
    let send = |v: Value| Message::Text(v.to_string().into());
    socket.send(send(json!({"type": "connection_init", "payload": {}}))).await.expect("send init");
    let start = match protocol {
        Protocol::TransportWs => json!({"id": "1", "type": "subscribe", "payload": {"query": query}}),
        Protocol::LegacyWs => json!({"id": "1", "type": "start", "payload": {"query": query}}),
    };
    let mut acked = false;
    let mut data = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a websocket message within 10 s")
            .expect("the socket stays open")
            .expect("a valid frame");
        let Message::Text(text) = message else { continue };
        let message: Value = serde_json::from_str(&text).expect("JSON message");
        match message["type"].as_str() {
            Some("connection_ack") if !acked => {
                acked = true;
                socket.send(send(start.clone())).await.expect("send subscribe");
            }
            Some("ka") | Some("ping") | Some("pong") => {}
            Some("next") | Some("data") => {
                let payload = &message["payload"];
                assert!(payload.get("errors").is_none(), "subscription error: {payload}");
                data.push(payload["data"].clone());
            }
            Some("complete") => break,
            other => panic!("unexpected {other:?} message: {message}"),
        }
    }
    let _ = socket.close(None).await;
    data
}
