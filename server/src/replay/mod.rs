//! A local Jetstream v1 replay server: serves a JSONL capture of Jetstream events over
//! `GET /subscribe`, speaking Jetstream's subscribe protocol, for tests, demos and
//! benchmarks without the network.
//!
//! Implemented as Jetstream does it: `wantedCollections` (exact NSIDs and `prefix.*`,
//! at most 100; only commits are filtered by collection), `wantedDids` (at most 10,000;
//! every event kind), `cursor`, `compress=true` or `Socket-Encoding: zstd` (binary zstd
//! frames made with Jetstream's dictionary), `maxMessageSizeBytes`, `requireHello=true`,
//! `options_update` messages (an invalid one closes the socket with the reason), HTTP 400
//! for invalid options, and a ping every 30 s.
//!
//! Deviations from the real Jetstream, because this replays a file instead of a live
//! firehose:
//! - Without `cursor` the stream starts at the beginning of the file (Jetstream starts
//!   live); with one, it starts at the first line whose `time_us >= cursor` and then
//!   sends every following line in file order, even when captures are not sorted by
//!   time (a cursor in the future is not turned into "live", it just finds nothing).
//! - After the end of the file the connection stays open and idle, like a quiet stream.
//! - `options_update` may also change `maxMessageSizeBytes` (Jetstream parses but drops
//!   it); a missing or `null` payload is refused.
//! - A `wantedCollections` prefix must be a plausible NSID prefix (`social.coves.*`);
//!   Jetstream accepts any string ending in `.*`.
//! - Lines that are not JSON events are sent as they are when no DID filter is set (a
//!   way to feed a client garbage), skipped while seeking a cursor.
//! - Rate limiting is per connection (`--rate`), not per IP; slow subscribers are slowed
//!   down (backpressure), never dropped.

mod connection;
mod filter;
mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use axum::Router;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::filter::Subscription;
use self::stream::EventSource;

/// `coves-appview replay`: serve a JSONL file of Jetstream events as a local Jetstream.
#[derive(clap::Args, Debug, Clone)]
pub struct ReplayArgs {
    /// JSONL file of Jetstream events, one JSON event per line, as Jetstream sends them.
    #[arg(long)]
    pub file: PathBuf,
    /// Address to listen on; clients subscribe at ws://ADDR/subscribe.
    #[arg(long, default_value = "127.0.0.1:6008")]
    pub listen: SocketAddr,
    /// Events per second per connection (unlimited if unset).
    #[arg(long)]
    pub rate: Option<u32>,
}

/// Serves `args.file` until `shutdown` is cancelled.
pub async fn run(args: ReplayArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let server = ReplayServer::start(listener, args.file.clone(), args.rate).await?;
    tracing::info!(url = %server.url(), file = %args.file.display(), rate = ?args.rate, "jetstream replay server listening");
    shutdown.cancelled().await;
    server.stop().await;
    Ok(())
}

/// `drop_after` value meaning "never".
const NEVER: u64 = u64::MAX;

/// State shared by the HTTP handler, every connection and the [`ReplayServer`] handle.
struct Shared {
    file: PathBuf,
    rate: Option<u32>,
    /// Server shutdown: connections send a close frame and end.
    stop: CancellationToken,
    /// Cancelled by `disconnect_all`, then replaced, so later connections get a fresh one.
    kill: Mutex<CancellationToken>,
    drop_after: AtomicU64,
    connections: AtomicU64,
    events_sent: AtomicU64,
    last_query: Mutex<Option<String>>,
    /// Connection tasks, so `stop` can wait for them.
    tasks: TaskTracker,
}

impl Shared {
    fn drop_after_reached(&self, sent: u64) -> bool {
        let limit = self.drop_after.load(Ordering::Relaxed);
        limit != NEVER && sent >= limit
    }

    fn kill_token(&self) -> CancellationToken {
        self.kill.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A running replay server, with hooks for tests. Stops when dropped.
pub struct ReplayServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    serve: Option<JoinHandle<()>>,
}

impl ReplayServer {
    /// Serves `file` on `listener` (events per second per connection: `rate`, unlimited
    /// when `None` or 0). Fails if the file cannot be opened.
    pub async fn start(listener: TcpListener, file: PathBuf, rate: Option<u32>) -> anyhow::Result<ReplayServer> {
        tokio::fs::File::open(&file).await.with_context(|| format!("cannot open {}", file.display()))?;
        let addr = listener.local_addr().context("listener has no local address")?;
        let shared = Arc::new(Shared {
            file,
            rate,
            stop: CancellationToken::new(),
            kill: Mutex::new(CancellationToken::new()),
            drop_after: AtomicU64::new(NEVER),
            connections: AtomicU64::new(0),
            events_sent: AtomicU64::new(0),
            last_query: Mutex::new(None),
            tasks: TaskTracker::new(),
        });
        let router = Router::new().route("/subscribe", get(subscribe)).with_state(Arc::clone(&shared));
        // Small messages are flushed one by one at low rates; Nagle would hold them back.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "replay: cannot set TCP_NODELAY");
            }
        });
        let stop = shared.stop.clone();
        let serve = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await {
                tracing::error!(error = %e, "replay server failed");
            }
        });
        Ok(ReplayServer { shared, addr, serve: Some(serve) })
    }

    /// The subscribe URL, e.g. `ws://127.0.0.1:6008/subscribe`.
    pub fn url(&self) -> String {
        format!("ws://{}/subscribe", self.addr)
    }

    /// Cuts every connection (without a close frame) once it has sent `n` events since it
    /// connected; `None` turns this off. Checked before and after each event.
    pub fn drop_after(&self, n: Option<u64>) {
        self.shared.drop_after.store(n.unwrap_or(NEVER), Ordering::Relaxed);
    }

    /// Cuts every current connection without a close frame; later ones are unaffected.
    pub fn disconnect_all(&self) {
        let mut kill = self.shared.kill.lock().unwrap_or_else(PoisonError::into_inner);
        kill.cancel();
        *kill = CancellationToken::new();
    }

    /// Websocket connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Events sent so far, over all connections.
    pub fn events_sent(&self) -> u64 {
        self.shared.events_sent.load(Ordering::Relaxed)
    }

    /// The query string (without `?`) of the latest `/subscribe` request, accepted or not.
    pub fn last_query(&self) -> Option<String> {
        self.shared.last_query.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops accepting, closes every connection with a close frame and waits for them.
    pub async fn stop(mut self) {
        self.shared.stop.cancel();
        if let Some(serve) = self.serve.take() {
            let _ = serve.await;
        }
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

/// `GET /subscribe`: options are checked before the upgrade so bad ones get HTTP 400,
/// as in Jetstream.
async fn subscribe(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let query = query.unwrap_or_default();
    *shared.last_query.lock().unwrap_or_else(PoisonError::into_inner) = Some(query.clone());
    let subscription = match Subscription::parse(&query, &headers) {
        Ok(subscription) => subscription,
        Err(e) => {
            tracing::info!(query, error = %e, "replay: refusing subscription");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let source = match EventSource::open(&shared.file, subscription.cursor).await {
        Ok(source) => source,
        Err(e) => {
            tracing::error!(file = %shared.file.display(), error = %e, "replay: cannot open the events file");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot open the events file").into_response();
        }
    };
    let id = shared.connections.fetch_add(1, Ordering::Relaxed);
    tracing::info!(id, query, "replay: subscriber connected");
    let kill = shared.kill_token();
    let task = shared.tasks.token();
    upgrade.on_upgrade(move |socket| async move {
        let _task = task;
        connection::serve(socket, subscription, source, shared, kill, id).await;
    })
}
