//! One GraphQL websocket: async-graphql runs the protocol (`graphql-transport-ws` or the
//! legacy `graphql-ws`), and this loop around it adds what a server facing many mobile
//! clients needs: a deadline for `connection_init`, websocket pings with a timeout, and a
//! bound on how long a client may take to accept a message. A connection that breaks one
//! of them is closed; nobody else waits for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_graphql::Data;
use async_graphql::dynamic::Schema;
use async_graphql::http::{WebSocket as Protocol, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use coves_plugin_api::live::LiveConnection;
use futures::{SinkExt, StreamExt};

/// Limits of one websocket.
#[derive(Clone, Copy, Debug)]
pub struct SocketSettings {
    /// `connection_init` must be acknowledged within this long.
    pub init_timeout: Duration,
    /// Ping interval; a connection silent for two intervals is closed.
    pub keepalive: Duration,
    /// Longest wait for the client to accept one message.
    pub send_timeout: Duration,
}

impl Default for SocketSettings {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(30),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// Counts open websockets in the `live_connections` gauge while it lives.
struct Open;

impl Open {
    fn new() -> Self {
        metrics::gauge!("live_connections").increment(1.0);
        Self
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!("live_connections").decrement(1.0);
    }
}

/// Serves one upgraded websocket until either side closes it or a limit is broken.
/// `on_init` turns the `connection_init` payload into the connection's data (or refuses
/// it); the connection's [`LiveConnection`] is added to it.
pub async fn serve<F, Fut>(
    socket: WebSocket,
    schema: Schema,
    protocol: WebSocketProtocols,
    settings: SocketSettings,
    on_init: F,
) where
    F: FnOnce(serde_json::Value) -> Fut + Send + 'static,
    Fut: Future<Output = async_graphql::Result<Data>> + Send + 'static,
{
    let _open = Open::new();
    let started = Instant::now();
    // Milliseconds since `started` when the client was last heard from (any frame).
    let heard = Arc::new(AtomicU64::new(0));
    let (mut sink, source) = socket.split();
    let input = {
        let heard = heard.clone();
        source.take_while(|frame| std::future::ready(frame.is_ok())).filter_map(move |frame| {
            heard.store(elapsed_ms(started), Ordering::Relaxed);
            std::future::ready(match frame {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                // Pings are answered by the websocket layer; pongs only prove liveness.
                _ => None,
            })
        })
    };
    let protocol =
        Protocol::new(schema, input, protocol).keepalive_timeout(None).on_connection_init(move |payload| async move {
            let mut data = on_init(payload).await?;
            data.insert(LiveConnection::default());
            Ok(data)
        });
    let mut protocol = std::pin::pin!(protocol);
    let init_deadline = tokio::time::Instant::now() + settings.init_timeout;
    let mut acknowledged = false;
    let mut ping = tokio::time::interval(settings.keepalive);
    ping.tick().await;
    loop {
        let outgoing = tokio::select! {
            message = protocol.next() => match message {
                Some(WsMessage::Text(text)) => {
                    acknowledged |= text.starts_with("{\"type\":\"connection_ack\"");
                    Message::Text(text.into())
                }
                Some(WsMessage::Close(code, reason)) => close(code, &reason),
                None => break,
            },
            () = tokio::time::sleep_until(init_deadline), if !acknowledged => {
                close(4408, "Connection initialisation timeout")
            }
            _ = ping.tick() => {
                let silent = elapsed_ms(started).saturating_sub(heard.load(Ordering::Relaxed));
                if silent > 2 * u64::try_from(settings.keepalive.as_millis()).unwrap_or(u64::MAX) {
                    close(1001, "keepalive timeout: no answer to pings")
                } else {
                    Message::Ping(Vec::new().into())
                }
            }
        };
        let closing = matches!(outgoing, Message::Close(_));
        match tokio::time::timeout(settings.send_timeout, sink.send(outgoing)).await {
            Ok(Ok(())) if !closing => {}
            Ok(Ok(())) | Ok(Err(_)) => break,
            Err(_) => {
                metrics::counter!("live_slow_connections_closed_total").increment(1);
                tracing::info!(
                    "closing a websocket whose client took more than {:?} to accept a message",
                    settings.send_timeout
                );
                break;
            }
        }
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
