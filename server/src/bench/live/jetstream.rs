//! The benchmark's Jetstream: an in-process Jetstream v1 endpoint (`GET /subscribe`) that
//! streams the vote events of a [`VoteStream`] at a steady rate while it runs, stamped
//! with the wall clock as Jetstream stamps what it relays.
//!
//! Every event sent is kept (time and JSON), so a subscriber is served as Jetstream serves
//! it: from `cursor` (the first event with `time_us >= cursor`, then on live) or, without
//! one, live from now on; `wantedCollections` (exact NSIDs or `prefix.*`) decides whether
//! it gets the votes at all. Messages are uncompressed JSON text frames: a subscription
//! asking for `compress=true` is refused (HTTP 400), so run the ingest with
//! `--jetstream-compress false`. Messages from the subscriber (`options_update`) are read
//! and ignored.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::votes::{VOTE_COLLECTION, VoteStream};

/// Events handed to a socket per flush.
const SEND_CHUNK: usize = 512;

struct Shared {
    /// Every event sent so far, in `time_us` order.
    log: Mutex<Vec<(i64, Utf8Bytes)>>,
    /// The log's length, for subscribers waiting for more.
    length: watch::Sender<usize>,
    connections: AtomicU64,
    stop: CancellationToken,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Vec<(i64, Utf8Bytes)>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running local Jetstream.
pub struct LocalJetstream {
    shared: Arc<Shared>,
    addr: SocketAddr,
    serve: JoinHandle<()>,
    generator: Option<JoinHandle<VoteStream>>,
}

impl LocalJetstream {
    /// Listens on a loopback port; nothing is streamed before [`Self::stream`].
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the local Jetstream")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            length: watch::Sender::new(0),
            connections: AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        let router = Router::new().route("/subscribe", get(subscribe)).with_state(shared.clone());
        let stop = shared.stop.clone();
        let serve = tokio::spawn(async move {
            let serving = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await;
            if let Err(e) = serving {
                eprintln!("the local Jetstream failed: {e}");
            }
        });
        Ok(Self { shared, addr, serve, generator: None })
    }

    /// The URL to give the ingest (`--jetstream-url`).
    pub fn url(&self) -> String {
        format!("ws://{}/subscribe", self.addr)
    }

    /// Websocket subscriptions accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// `time_us` of the last event sent.
    pub fn last_time_us(&self) -> Option<i64> {
        self.shared.log().last().map(|(t, _)| *t)
    }

    /// Streams `stream`'s events at `rate` per second for `duration`, in the background.
    pub fn stream(&mut self, stream: VoteStream, rate: u32, duration: Duration) {
        let shared = self.shared.clone();
        self.generator = Some(tokio::spawn(generate(shared, stream, rate, duration)));
    }

    /// Waits for the stream started by [`Self::stream`] to end and returns it (what it
    /// sent).
    pub async fn finish(&mut self) -> anyhow::Result<VoteStream> {
        let generator = self.generator.take().context("no stream was started")?;
        generator.await.context("the vote generator panicked")
    }

    /// Closes every subscription and stops listening.
    pub async fn stop(self) {
        self.shared.stop.cancel();
        if let Some(generator) = self.generator {
            generator.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.serve).await;
    }
}

/// Appends events to the log at `rate` per second (every millisecond, as many as are
/// due), for `duration`.
async fn generate(shared: Arc<Shared>, mut stream: VoteStream, rate: u32, duration: Duration) -> VoteStream {
    let started = Instant::now();
    let until = started + duration;
    let mut produced: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now = Instant::now().min(until);
        let due = (now.duration_since(started).as_secs_f64() * f64::from(rate)) as u64;
        if due > produced {
            let now_us = chrono::Utc::now().timestamp_micros();
            let events: Vec<(i64, Utf8Bytes)> = (produced..due)
                .map(|_| {
                    let event = stream.next_event(now_us);
                    (event.time_us, Utf8Bytes::from(event.json))
                })
                .collect();
            produced = due;
            let length = {
                let mut log = shared.log();
                log.extend(events);
                log.len()
            };
            shared.length.send_replace(length);
        }
        if now >= until || shared.stop.is_cancelled() {
            return stream;
        }
    }
}

/// What a subscriber asked for.
#[derive(Debug, PartialEq)]
struct Options {
    cursor: Option<i64>,
    /// Whether `wantedCollections` lets the votes through.
    wants_votes: bool,
}

fn parse_options(query: &str) -> Result<Options, String> {
    let mut cursor = None;
    let mut wanted = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "cursor" => cursor = Some(value.parse::<i64>().map_err(|_| format!("invalid cursor {value:?}"))?),
            "wantedCollections" => wanted.push(value.into_owned()),
            "compress" if value == "true" => {
                return Err("this Jetstream sends uncompressed JSON only: run the ingest with \
                            --jetstream-compress false"
                    .to_owned());
            }
            _ => {}
        }
    }
    let wants = |pattern: &String| match pattern.strip_suffix('*') {
        Some(prefix) => prefix.ends_with('.') && VOTE_COLLECTION.starts_with(prefix),
        None => pattern == VOTE_COLLECTION,
    };
    Ok(Options { cursor, wants_votes: wanted.is_empty() || wanted.iter().any(wants) })
}

async fn subscribe(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let options = match parse_options(query.as_deref().unwrap_or_default()) {
        Ok(options) => options,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    shared.connections.fetch_add(1, Ordering::Relaxed);
    upgrade.on_upgrade(move |socket| serve(socket, shared, options))
}

/// Sends the log from the subscriber's position on, then each new event as it comes.
async fn serve(socket: WebSocket, shared: Arc<Shared>, options: Options) {
    let (mut sink, mut incoming) = socket.split();
    let closed = CancellationToken::new();
    let reader = {
        let closed = closed.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = incoming.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
            closed.cancel();
        })
    };
    let mut length = shared.length.subscribe();
    let mut position = {
        let log = shared.log();
        match options.cursor {
            Some(cursor) => log.partition_point(|(t, _)| *t < cursor),
            None => log.len(),
        }
    };
    loop {
        length.borrow_and_update();
        let chunk: Vec<Utf8Bytes> = {
            let log = shared.log();
            if !options.wants_votes {
                position = log.len();
            }
            let end = log.len().min(position + SEND_CHUNK);
            log[position..end].iter().map(|(_, json)| json.clone()).collect()
        };
        if chunk.is_empty() {
            tokio::select! {
                changed = length.changed() => if changed.is_err() { break },
                () = closed.cancelled() => break,
                () = shared.stop.cancelled() => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
            continue;
        }
        position += chunk.len();
        let mut failed = false;
        for json in chunk {
            if sink.feed(Message::Text(json)).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed || sink.flush().await.is_err() {
            break;
        }
    }
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::live::votes::Subject;

    async fn receive(url: &str, count: usize) -> Vec<serde_json::Value> {
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("connects");
        let mut events = Vec::new();
        while events.len() < count {
            let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("an event within 5 s")
                .expect("open")
                .expect("a frame");
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                events.push(serde_json::from_str(&text).expect("JSON"));
            }
        }
        events
    }

    #[tokio::test]
    async fn streams_live_and_from_a_cursor() {
        let mut jetstream = LocalJetstream::start().await.expect("starts");
        let url = format!("{}?wantedCollections={VOTE_COLLECTION}", jetstream.url());
        let live = tokio::spawn({
            let url = url.clone();
            async move { receive(&url, 200).await }
        });
        while jetstream.connections() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let subjects =
            vec![Subject { uri: "at://did:plc:c/social.coves.community.post/3l2".into(), cid: "bafyreia".into() }];
        jetstream.stream(VoteStream::new(subjects, 10, 1), 2_000, Duration::from_millis(100));
        let stream = jetstream.finish().await.expect("finishes");
        assert_eq!(stream.sent().total(), 200);
        let live = live.await.expect("receives");
        let times: Vec<i64> = live.iter().map(|e| e["time_us"].as_i64().expect("time_us")).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(jetstream.last_time_us(), times.last().copied());

        let replayed = receive(&format!("{url}&cursor={}", times[150]), 50).await;
        assert_eq!(replayed, live[150..]);
        jetstream.stop().await;
    }

    #[test]
    fn options_follow_jetstream() {
        assert_eq!(parse_options(""), Ok(Options { cursor: None, wants_votes: true }));
        assert_eq!(
            parse_options("wantedCollections=social.coves.feed.vote&wantedCollections=x.y.z&cursor=17&compress=false"),
            Ok(Options { cursor: Some(17), wants_votes: true })
        );
        assert_eq!(parse_options("wantedCollections=social.coves.*"), Ok(Options { cursor: None, wants_votes: true }));
        assert_eq!(
            parse_options("wantedCollections=social.coves.community.post"),
            Ok(Options { cursor: None, wants_votes: false })
        );
        assert!(parse_options("compress=true").is_err());
        assert!(parse_options("cursor=soon").is_err());
    }
}
