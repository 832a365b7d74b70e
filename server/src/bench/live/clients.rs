//! The subscribers: websocket clients speaking `graphql-transport-ws`, each connection
//! carrying one or more `postStats` subscriptions, recording every value they receive:
//! the delivery latency of each update (receive time − `changedAt`, one machine, one
//! clock) inside the measured window, and each subscription's first and last value.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

/// The subscription each client holds, as a client would write it (`PostStats` has no
/// `uri` field: a client knows what it subscribed to by the subscription's id).
pub const QUERY: &str = "subscription($uri: String!) { postStats(uri: $uri) { seq changedAt score upvotes downvotes \
                         commentCount totalCommentCount } }";

/// Websocket handshakes in flight at once while connecting.
const HANDSHAKES: usize = 64;

/// Counters every client updates as it goes, read by the driver.
pub struct Progress {
    /// Connections acknowledged by the server (`connection_ack`).
    pub connected: AtomicUsize,
    /// Subscriptions that received their first value.
    pub first_values: AtomicUsize,
    /// Connections or subscriptions that failed (see their logs).
    pub failures: AtomicUsize,
    /// Values received after the first ones.
    pub updates: AtomicU64,
    /// Wall-clock µs of the latest value received.
    pub last_value_us: AtomicI64,
    /// The measured window (wall-clock µs): latencies of updates received in it count.
    window_from_us: AtomicI64,
    window_until_us: AtomicI64,
    stop: CancellationToken,
}

impl Progress {
    fn new() -> Self {
        Self {
            connected: AtomicUsize::new(0),
            first_values: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            updates: AtomicU64::new(0),
            last_value_us: AtomicI64::new(0),
            window_from_us: AtomicI64::new(i64::MAX),
            window_until_us: AtomicI64::new(i64::MAX),
            stop: CancellationToken::new(),
        }
    }

    /// Opens the measured window from now, for `length`.
    pub fn measure_from_now(&self, length: Duration) {
        let from = now_us();
        self.window_until_us.store(from + length.as_micros() as i64, Ordering::Relaxed);
        self.window_from_us.store(from, Ordering::Relaxed);
    }
}

/// A post's counts as a subscriber saw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub score: i64,
    pub upvotes: i64,
    pub downvotes: i64,
}

/// What one subscription received.
#[derive(Debug)]
pub struct SubscriptionLog {
    /// Index of its subject.
    pub subject: usize,
    pub first: Option<Counts>,
    /// The last value's counts and seq.
    pub last: Option<(Counts, u64)>,
    /// Values after the first.
    pub updates: u64,
    /// Values whose seq was not greater than the previous one's.
    pub seq_not_increasing: u64,
    /// An error the server sent for it, or why it ended early.
    pub error: Option<String>,
}

/// One update received in the measured window.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// The value's sequence label: every value loaded in one flush of the server shares it.
    pub seq: u64,
    /// Its `changedAt`, wall-clock µs.
    pub changed_us: i64,
    /// When it was received, wall-clock µs.
    pub received_us: i64,
}

/// What one connection saw.
#[derive(Debug, Default)]
pub struct ConnectionLog {
    pub subscriptions: Vec<SubscriptionLog>,
    /// The updates received in the measured window.
    pub samples: Vec<Sample>,
    /// Updates (not first values) without `changedAt`.
    pub without_changed_at: u64,
    /// Updates received before their `changedAt` (clock trouble; their latency counts as 0).
    pub negative: u64,
    /// Why the connection failed or ended early.
    pub error: Option<String>,
}

/// Every websocket client, running.
pub struct Clients {
    pub progress: Arc<Progress>,
    tasks: Vec<tokio::task::JoinHandle<ConnectionLog>>,
}

impl Clients {
    /// Opens `connections` websockets to `url` (`ws://…/graphql`) and subscribes
    /// `subscriptions` times in all, subscription `i` to subject `i % subjects.len()`,
    /// over connection `i % connections`. Returns at once; watch [`Progress`].
    pub fn start(url: &str, connections: usize, subscriptions: usize, subjects: Arc<Vec<String>>) -> Self {
        let progress = Arc::new(Progress::new());
        let handshakes = Arc::new(Semaphore::new(HANDSHAKES));
        let tasks = (0..connections)
            .map(|c| {
                let wanted: Vec<usize> = (c..subscriptions).step_by(connections).collect();
                let subscriptions =
                    wanted.iter().map(|&i| (i % subjects.len(), subjects[i % subjects.len()].clone())).collect();
                tokio::spawn(connection(url.to_owned(), subscriptions, progress.clone(), handshakes.clone()))
            })
            .collect();
        Self { progress, tasks }
    }

    /// Closes every connection and returns what each saw.
    pub async fn stop(self) -> Vec<ConnectionLog> {
        self.progress.stop.cancel();
        let mut logs = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            logs.push(task.await.unwrap_or_else(|e| ConnectionLog {
                error: Some(format!("the client task panicked: {e}")),
                ..ConnectionLog::default()
            }));
        }
        logs
    }
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A `next` message, read without building a JSON tree (most messages are these).
#[derive(Deserialize)]
struct Next<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    payload: NextPayload,
}

/// A `next` message's payload.
#[derive(Deserialize)]
struct NextPayload {
    data: Option<NextData>,
    errors: Option<Value>,
}

#[derive(Deserialize)]
struct NextData {
    #[serde(rename = "postStats")]
    post_stats: Option<PostStats>,
}

#[derive(Deserialize)]
struct PostStats {
    seq: u64,
    #[serde(rename = "changedAt")]
    changed_at: Option<String>,
    score: i64,
    upvotes: i64,
    downvotes: i64,
}

/// One connection: `connection_init`, then a `subscribe` per subject once acknowledged,
/// then values until stopped.
async fn connection(
    url: String,
    subscriptions: Vec<(usize, String)>,
    progress: Arc<Progress>,
    handshakes: Arc<Semaphore>,
) -> ConnectionLog {
    let mut log = ConnectionLog {
        subscriptions: subscriptions
            .iter()
            .map(|(subject, _)| SubscriptionLog {
                subject: *subject,
                first: None,
                last: None,
                updates: 0,
                seq_not_increasing: 0,
                error: None,
            })
            .collect(),
        ..ConnectionLog::default()
    };
    if let Err(e) = run_connection(&url, &subscriptions, &progress, &handshakes, &mut log).await {
        progress.failures.fetch_add(1, Ordering::Relaxed);
        log.error = Some(e);
    }
    log
}

async fn run_connection(
    url: &str,
    subscriptions: &[(usize, String)],
    progress: &Progress,
    handshakes: &Semaphore,
    log: &mut ConnectionLog,
) -> Result<(), String> {
    let mut request = url.into_client_request().map_err(|e| format!("bad URL: {e}"))?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let mut socket = {
        let _permit = handshakes.acquire().await.map_err(|e| e.to_string())?;
        let (socket, _) = tokio::select! {
            connected = tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), true) =>
                connected.map_err(|e| format!("connecting: {e}"))?,
            () = progress.stop.cancelled() => return Ok(()),
        };
        socket
    };
    let text = |value: Value| Message::Text(value.to_string().into());
    socket.send(text(json!({"type": "connection_init", "payload": {}}))).await.map_err(|e| e.to_string())?;
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            () = progress.stop.cancelled() => {
                let _ = socket.close(None).await;
                return Ok(());
            }
        };
        let text_message = match message {
            None => return Err("the server closed the connection".to_owned()),
            Some(Err(e)) => return Err(format!("websocket error: {e}")),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => return Err(format!("the server closed the connection: {frame:?}")),
            Some(Ok(_)) => continue,
        };
        let received_us = now_us();
        if let Ok(next) = serde_json::from_str::<Next<'_>>(&text_message)
            && next.kind == "next"
        {
            let subscription = next
                .id
                .parse::<usize>()
                .ok()
                .filter(|&i| i < log.subscriptions.len())
                .ok_or_else(|| format!("a value for an unknown subscription: {text_message}"))?;
            on_value(next.payload, received_us, subscription, progress, log);
            continue;
        }
        let message: Value =
            serde_json::from_str(&text_message).map_err(|e| format!("not JSON ({e}): {text_message}"))?;
        match message["type"].as_str() {
            Some("connection_ack") => {
                progress.connected.fetch_add(1, Ordering::Relaxed);
                for (id, (_, uri)) in subscriptions.iter().enumerate() {
                    let subscribe = json!({"id": id.to_string(), "type": "subscribe",
                        "payload": {"query": QUERY, "variables": {"uri": uri}}});
                    socket.feed(text(subscribe)).await.map_err(|e| e.to_string())?;
                }
                socket.flush().await.map_err(|e| e.to_string())?;
            }
            Some("ping") => socket.send(text(json!({"type": "pong"}))).await.map_err(|e| e.to_string())?,
            Some("pong") => {}
            Some("next") => {
                let subscription = subscription_index(&message, log.subscriptions.len())?;
                let payload: NextPayload = serde_json::from_value(message["payload"].clone())
                    .map_err(|e| format!("unexpected `next` payload ({e}): {text_message}"))?;
                on_value(payload, received_us, subscription, progress, log);
            }
            Some("error") => {
                let subscription = subscription_index(&message, log.subscriptions.len())?;
                progress.failures.fetch_add(1, Ordering::Relaxed);
                log.subscriptions[subscription].error = Some(format!("error: {}", message["payload"]));
            }
            Some("complete") => {
                let subscription = subscription_index(&message, log.subscriptions.len())?;
                let sub = &mut log.subscriptions[subscription];
                sub.error.get_or_insert_with(|| "the server completed the subscription".to_owned());
            }
            _ => return Err(format!("unexpected message: {text_message}")),
        }
    }
}

/// Small buffers: tungstenite zero-fills its whole read buffer (128 KiB by default) on
/// every read, which for 10,000 sockets is 1.3 GB of memory and page faults in the tool.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(8 * 1024)
}

fn subscription_index(message: &Value, count: usize) -> Result<usize, String> {
    message["id"]
        .as_str()
        .and_then(|id| id.parse::<usize>().ok())
        .filter(|&i| i < count)
        .ok_or_else(|| format!("a message for an unknown subscription: {message}"))
}

fn on_value(payload: NextPayload, received_us: i64, index: usize, progress: &Progress, log: &mut ConnectionLog) {
    let sub = &mut log.subscriptions[index];
    let stats = match (payload.data.and_then(|d| d.post_stats), payload.errors) {
        (Some(stats), None) => stats,
        (_, errors) => {
            if sub.error.is_none() {
                progress.failures.fetch_add(1, Ordering::Relaxed);
                sub.error = Some(format!("errors: {}", errors.unwrap_or(Value::Null)));
            }
            return;
        }
    };
    progress.last_value_us.fetch_max(received_us, Ordering::Relaxed);
    let counts = Counts { score: stats.score, upvotes: stats.upvotes, downvotes: stats.downvotes };
    if let Some((_, previous_seq)) = sub.last {
        sub.updates += 1;
        progress.updates.fetch_add(1, Ordering::Relaxed);
        if stats.seq <= previous_seq {
            sub.seq_not_increasing += 1;
        }
        let changed_at = stats.changed_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        match changed_at {
            None => log.without_changed_at += 1,
            Some(changed_at) => {
                let from = progress.window_from_us.load(Ordering::Relaxed);
                let until = progress.window_until_us.load(Ordering::Relaxed);
                if (from..until).contains(&received_us) {
                    let changed_us = changed_at.timestamp_micros();
                    if received_us < changed_us {
                        log.negative += 1;
                    }
                    log.samples.push(Sample { seq: stats.seq, changed_us, received_us });
                }
            }
        }
    } else {
        sub.first = Some(counts);
        progress.first_values.fetch_add(1, Ordering::Relaxed);
    }
    sub.last = Some((counts, stats.seq));
}
