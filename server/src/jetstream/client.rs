//! Follows Jetstream: one websocket at a time, failover across URLs, reconnects with
//! exponential backoff and jitter, and a watchdog for silent streams.
//!
//! The client decodes messages and hands them to the ingest pipeline through a bounded
//! channel, so a slow database slows reading instead of growing memory.

use std::time::Duration;

use axum::body::Bytes;
use futures::StreamExt;
use rand::Rng;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::compression::decompress;
use super::wire::{Rejected, decode};
use crate::ingest::Event;

/// How to follow Jetstream.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `/subscribe` endpoints, tried in order (failover).
    pub urls: Vec<Url>,
    /// Exact collection NSIDs to ask for (`wantedCollections`).
    pub collections: Vec<String>,
    /// Ask for zstd-compressed messages (unless a URL already says `compress=...`).
    pub compress: bool,
    /// How far to rewind the cursor when (re)connecting; replays are harmless.
    pub rewind: Duration,
    /// Reconnect when no message arrived for this long.
    pub watchdog: Duration,
    /// Messages larger than this (after decompression) are skipped.
    pub max_message_bytes: usize,
    /// First reconnect delay; doubles per consecutive failure up to `backoff_max`.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

/// What the client hands to the pipeline.
#[derive(Debug)]
pub enum Incoming {
    /// A decoded event.
    Event(Event),
    /// A message that could not be decoded; skipped, counted and logged downstream.
    Rejected(Box<Rejected>),
}

impl Incoming {
    fn time_us(&self) -> Option<i64> {
        match self {
            Incoming::Event(e) => Some(e.time_us()),
            Incoming::Rejected(r) => r.time_us,
        }
    }
}

/// The subscribe URL for `base` at `cursor` (unix µs).
pub fn subscribe_url(base: &Url, collections: &[String], compress: bool, cursor: Option<i64>, max_bytes: usize) -> Url {
    let mut url = base.clone();
    let has = |name: &str| base.query_pairs().any(|(k, _)| k == name);
    let compress_given = has("compress");
    let size_given = has("maxMessageSizeBytes");
    {
        let mut query = url.query_pairs_mut();
        for collection in collections {
            query.append_pair("wantedCollections", collection);
        }
        if compress && !compress_given {
            query.append_pair("compress", "true");
        }
        if !size_given {
            query.append_pair("maxMessageSizeBytes", &max_bytes.to_string());
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", &cursor.to_string());
        }
    }
    url
}

/// Follows Jetstream until `shutdown`, starting after `cursor` (unix µs, if any).
/// Returns when cancelled or when the pipeline has gone away.
pub async fn follow(
    config: ClientConfig,
    mut cursor: Option<i64>,
    events: mpsc::Sender<Incoming>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    anyhow::ensure!(!config.urls.is_empty(), "no Jetstream URL configured");
    let rewind = i64::try_from(config.rewind.as_micros()).unwrap_or(i64::MAX);
    let mut failures: u32 = 0;
    let mut next_url = 0;
    loop {
        let base = &config.urls[next_url % config.urls.len()];
        let from = cursor.map(|c| c.saturating_sub(rewind).max(0));
        let url = subscribe_url(base, &config.collections, config.compress, from, config.max_message_bytes);
        tracing::info!(url = %url, "connecting to Jetstream");
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            outcome = read_stream(&config, &url, &mut cursor, &events, &shutdown) => outcome,
        };
        match outcome {
            StreamEnd::Shutdown | StreamEnd::PipelineGone => return Ok(()),
            StreamEnd::Lost { received, reason } => {
                metrics::counter!("jetstream_reconnects_total").increment(1);
                if received > 0 {
                    failures = 0;
                } else {
                    failures = failures.saturating_add(1);
                    next_url += 1; // fail over to the next URL
                }
                let delay = backoff(&config, failures);
                tracing::warn!(%reason, received, retry_in = ?delay, "Jetstream connection lost");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

enum StreamEnd {
    Shutdown,
    PipelineGone,
    Lost { received: u64, reason: String },
}

async fn read_stream(
    config: &ClientConfig,
    url: &Url,
    cursor: &mut Option<i64>,
    events: &mpsc::Sender<Incoming>,
    shutdown: &CancellationToken,
) -> StreamEnd {
    // tungstenite's own cap is set above ours so an oversize message is skipped, not fatal.
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_bytes.saturating_mul(4)))
        .max_frame_size(Some(config.max_message_bytes.saturating_mul(4)));
    let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(ws_config), true);
    let mut socket = match tokio::time::timeout(config.watchdog, connect).await {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(e)) => return StreamEnd::Lost { received: 0, reason: format!("connect: {e}") },
        Err(_) => return StreamEnd::Lost { received: 0, reason: "connect timed out".into() },
    };
    let mut received = 0u64;
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return StreamEnd::Shutdown,
            message = tokio::time::timeout(config.watchdog, socket.next()) => message,
        };
        let bytes = match message {
            Err(_) => {
                return StreamEnd::Lost {
                    received,
                    reason: format!("no message for {:?} (watchdog)", config.watchdog),
                };
            }
            Ok(None) => return StreamEnd::Lost { received, reason: "stream ended".into() },
            Ok(Some(Err(e))) => return StreamEnd::Lost { received, reason: e.to_string() },
            Ok(Some(Ok(Message::Text(text)))) => Bytes::from(text),
            Ok(Some(Ok(Message::Binary(frame)))) => match decompress(&frame, config.max_message_bytes) {
                Ok(bytes) => Bytes::from(bytes),
                Err(e) => {
                    received += 1;
                    if events
                        .send(Incoming::Rejected(Box::new(Rejected::new("undecompressable", e.to_string()))))
                        .await
                        .is_err()
                    {
                        return StreamEnd::PipelineGone;
                    }
                    continue;
                }
            },
            Ok(Some(Ok(Message::Close(frame)))) => {
                return StreamEnd::Lost { received, reason: format!("closed by server: {frame:?}") };
            }
            Ok(Some(Ok(_))) => continue, // ping/pong are handled by tungstenite
        };
        received += 1;
        let incoming = if bytes.len() > config.max_message_bytes {
            let detail = format!("{} bytes exceed the {}-byte limit", bytes.len(), config.max_message_bytes);
            Incoming::Rejected(Box::new(Rejected::new("oversize", detail)))
        } else {
            match decode(&bytes) {
                Ok(event) => Incoming::Event(event),
                Err(rejected) => Incoming::Rejected(rejected),
            }
        };
        if let Some(time_us) = incoming.time_us() {
            *cursor = Some(cursor.map_or(time_us, |c| c.max(time_us)));
        }
        if events.send(incoming).await.is_err() {
            return StreamEnd::PipelineGone;
        }
    }
}

/// Exponential backoff with full jitter: a random delay in [initial/2, min(max, initial·2^n)].
fn backoff(config: &ClientConfig, failures: u32) -> Duration {
    let ceiling = config.backoff_initial.saturating_mul(2u32.saturating_pow(failures.min(16))).min(config.backoff_max);
    let floor = config.backoff_initial / 2;
    if ceiling <= floor {
        return ceiling;
    }
    rand::rng().random_range(floor..=ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscribe_url_lists_collections_cursor_and_respects_given_parameters() {
        let base = Url::parse("wss://jetstream.example/subscribe").expect("url");
        let url = subscribe_url(&base, &["a.b.c".into(), "d.e.f".into()], true, Some(42), 1000);
        assert_eq!(
            url.as_str(),
            "wss://jetstream.example/subscribe?wantedCollections=a.b.c&wantedCollections=d.e.f&compress=true&maxMessageSizeBytes=1000&cursor=42"
        );
        let base = Url::parse("ws://127.0.0.1:1/subscribe?compress=false").expect("url");
        let url = subscribe_url(&base, &[], true, None, 1000);
        assert_eq!(url.as_str(), "ws://127.0.0.1:1/subscribe?compress=false&maxMessageSizeBytes=1000");
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let config = ClientConfig {
            urls: vec![],
            collections: vec![],
            compress: false,
            rewind: Duration::ZERO,
            watchdog: Duration::from_secs(1),
            max_message_bytes: 1,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        };
        for failures in 0..40 {
            let delay = backoff(&config, failures);
            assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_secs(5), "{failures}: {delay:?}");
        }
    }
}
