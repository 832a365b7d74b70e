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

/// What the server sent on a [`LiveSocket`].
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A value of subscription `id` (`data` of a `next`/`data` message).
    Next(String, Value),
    /// An error of subscription `id` (an `error` message, or a `next` carrying `errors`).
    Error(String, Value),
    /// Subscription `id` ended.
    Complete(String),
    /// The server closed the connection (code and reason, if it sent a close frame).
    Closed(Option<(u16, String)>),
}

/// A long-lived GraphQL websocket for live values: several subscriptions, read one
/// message at a time.
pub struct LiveSocket {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    protocol: Protocol,
}

impl LiveSocket {
    /// Connects without sending `connection_init`.
    pub async fn open(url: &str, protocol: Protocol) -> Self {
        let mut request = url.into_client_request().expect("ws URL");
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol.name()));
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket connects");
        Self { socket, protocol }
    }

    /// Connects and completes `connection_init`.
    pub async fn connect(url: &str, protocol: Protocol) -> Self {
        let mut socket = Self::open(url, protocol).await;
        socket.send(json!({"type": "connection_init", "payload": {}})).await;
        loop {
            match socket.raw().await {
                Some(message) if message["type"] == "connection_ack" => return socket,
                Some(message) if matches!(message["type"].as_str(), Some("ka" | "ping" | "pong")) => {}
                other => panic!("expected connection_ack, got {other:?}"),
            }
        }
    }

    async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.expect("send");
    }

    /// Starts subscription `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::LegacyWs => "start",
        };
        self.send(json!({"id": id, "type": kind, "payload": {"query": query, "variables": variables}})).await;
    }

    /// Stops subscription `id`.
    pub async fn complete(&mut self, id: &str) {
        let kind = match self.protocol {
            Protocol::TransportWs => "complete",
            Protocol::LegacyWs => "stop",
        };
        self.send(json!({"id": id, "type": kind})).await;
    }

    /// The next JSON message, or `None` when the connection closed (10 s at most).
    async fn raw(&mut self) -> Option<Value> {
        match self.next_frame(Duration::from_secs(10)).await {
            Some(Ok(Value::String(_))) | None | Some(Err(_)) => None,
            Some(Ok(value)) => Some(value),
        }
    }

    /// The next text frame as JSON; `Err` with the close frame when the server closed.
    async fn next_frame(&mut self, wait: Duration) -> Option<Result<Value, Option<(u16, String)>>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => return Some(Ok(serde_json::from_str(&text).expect("JSON message"))),
                Some(Ok(Message::Close(frame))) => {
                    return Some(Err(frame.map(|f| (u16::from(f.code), f.reason.to_string()))));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Some(Err(None)),
            }
        }
    }

    /// The next message about a subscription (keep-alives skipped), waiting up to `wait`;
    /// `None` if nothing came.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = match self.next_frame(left).await? {
                Ok(message) => message,
                Err(close) => return Some(Received::Closed(close)),
            };
            let id = message["id"].as_str().unwrap_or_default().to_owned();
            match message["type"].as_str() {
                Some("next" | "data") if message["payload"].get("errors").is_some() => {
                    return Some(Received::Error(id, message["payload"]["errors"].clone()));
                }
                Some("next" | "data") => return Some(Received::Next(id, message["payload"]["data"].clone())),
                Some("error") => return Some(Received::Error(id, message["payload"].clone())),
                Some("complete") => return Some(Received::Complete(id)),
                _ => {}
            }
        }
    }

    /// The next message (10 s at most).
    pub async fn next(&mut self) -> Received {
        self.next_within(Duration::from_secs(10)).await.expect("a message within 10 s")
    }
}
