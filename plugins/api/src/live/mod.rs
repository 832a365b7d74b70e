//! Live values behind GraphQL subscriptions (`postStats`, `communityStats`, ...): one hub
//! per server process fans changes out to every subscriber of a subject.
//!
//! The ingest announces the subjects a batch changed with `pg_notify`, delivered on
//! commit to every server process, each notification labelled with a sequence number
//! (one per batch, increasing in commit order: there is one ingest writer). The server's
//! listener hands them to [`LiveHub::notified`]. The hub keeps one topic per (kind,
//! subject) with subscribers; a single flusher task waits out the coalescing window,
//! loads the new values of every changed topic with one query per kind, and broadcasts
//! each value once, shared by all its subscribers.
//!
//! **Sequence numbers.** A value labelled `seq` reflects every change announced with a
//! number ≤ `seq`: it is loaded after those notifications arrived. A subscriber passing
//! `after` (the last `seq` it saw, perhaps from another server process) gets no value until
//! one labelled higher exists, and then at once; so a reconnecting client catches up on a
//! missed change and is not sent what it already has. Labels are conservative: a value
//! may be resent, never skipped.
//!
//! **Order.** Every value of a topic is loaded by the one flusher, in turn, so a
//! subscriber never sees a value older than one it has seen. A new subscriber registers
//! before the topic's first value is loaded, so no change falls in between.
//!
//! **Guardrails.** Global and per-connection subscription caps ([`LiveSettings`]); each
//! subscriber's queue is bounded ([`LiveSettings::queue`]): one that falls that far behind
//! is dropped with `SlowConsumer`, without slowing anyone else.

pub mod graphql;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel_async::AsyncPgConnection;
use futures::Stream;
use futures::future::BoxFuture;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::context::DbPool;
use crate::error::ApiError;

/// A live value: the owning plugin's row (e.g. a post's counts), shared by every
/// subscriber of its subject.
pub type LiveValue = Arc<dyn Any + Send + Sync>;

/// Loads the current values of many subjects at once; subjects that do not exist are
/// left out of the map.
pub type LoadLive =
    for<'c> fn(&'c mut AsyncPgConnection, &'c [String]) -> BoxFuture<'c, QueryResult<HashMap<String, LiveValue>>>;

/// A kind of live value (one per subscription field), declared as a `static` by its
/// plugin.
pub struct LiveKind {
    /// The subscription field's name, for logs and metrics.
    pub name: &'static str,
    /// How its values are read.
    pub load: LoadLive,
}

/// One value of a topic, as broadcast.
#[derive(Clone)]
pub struct LiveUpdate {
    /// The sequence label: the value reflects every change announced up to it.
    pub seq: i64,
    /// When the newest change this value includes was committed (`None` for a value
    /// loaded with no change seen since the topic opened).
    pub changed_at: Option<DateTime<Utc>>,
    /// The value; `None` when the subject does not exist.
    pub value: Option<LiveValue>,
}

/// Limits of the hub.
#[derive(Clone, Copy, Debug)]
pub struct LiveSettings {
    /// How long changes are gathered before values are reloaded and sent.
    pub coalesce_window: Duration,
    /// Most open subscriptions in this process.
    pub max_subscriptions: usize,
    /// Most open subscriptions on one websocket connection.
    pub max_subscriptions_per_connection: usize,
    /// Updates a subscriber may fall behind before it is dropped.
    pub queue: usize,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            coalesce_window: Duration::from_millis(100),
            max_subscriptions: 100_000,
            max_subscriptions_per_connection: 100,
            queue: 16,
        }
    }
}

/// The subscriptions open on one websocket connection (inserted into the connection's
/// GraphQL data by the server), for the per-connection cap.
#[derive(Clone, Debug, Default)]
pub struct LiveConnection {
    open: Arc<AtomicUsize>,
}

/// The process's hub. Cheap to clone.
#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LiveSettings,
    pool: DbPool,
    state: Mutex<State>,
    /// Wakes the flusher.
    wake: Notify,
    /// The highest sequence number announced so far.
    seq: AtomicI64,
    /// Open subscriptions in this process.
    open: AtomicUsize,
}

/// A topic key: (kind name, subject).
type Key = (&'static str, Arc<str>);

#[derive(Default)]
struct State {
    /// Topics by subject (a subject may be watched as several kinds).
    topics: HashMap<Arc<str>, Vec<Topic>>,
    /// Topics whose value must be reloaded, with the commit time of their newest change.
    pending: HashMap<Key, Option<DateTime<Utc>>>,
    /// A topic has no value yet: flush without waiting for the window.
    urgent: bool,
    /// When the oldest pending change arrived: the window runs from there, so no change
    /// waits longer than one window (plus the round before it) whatever the load.
    pending_since: Option<tokio::time::Instant>,
}

struct Topic {
    kind: &'static LiveKind,
    sender: broadcast::Sender<LiveUpdate>,
    latest: Option<LiveUpdate>,
}

impl LiveHub {
    /// A hub reading values through `pool`; run [`LiveHub::run_flusher`] beside it.
    pub fn new(pool: DbPool, settings: LiveSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                pool,
                state: Mutex::new(State::default()),
                wake: Notify::new(),
                seq: AtomicI64::new(0),
                open: AtomicUsize::new(0),
            }),
        }
    }

    /// Its limits.
    pub fn settings(&self) -> LiveSettings {
        self.inner.settings
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind; keep serving.
        self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ingest announced `subjects` changed in the transaction numbered `seq`,
    /// committed at `changed_at`.
    pub fn notified<'s>(&self, seq: i64, changed_at: DateTime<Utc>, subjects: impl IntoIterator<Item = &'s str>) {
        self.inner.seq.fetch_max(seq, Ordering::SeqCst);
        let mut state = self.state();
        let mut any = false;
        for subject in subjects {
            let Some((subject, topics)) = state.topics.get_key_value(subject) else { continue };
            let keys: Vec<Key> = topics.iter().map(|t| (t.kind.name, subject.clone())).collect();
            for key in keys {
                let at = state.pending.entry(key).or_insert(None);
                *at = Some(at.map_or(changed_at, |a| a.max(changed_at)));
                any = true;
            }
            state.pending_since.get_or_insert_with(tokio::time::Instant::now);
        }
        drop(state);
        if any {
            self.inner.wake.notify_one();
        }
    }

    /// Notifications may have been missed (the listener reconnected): every topic is
    /// reloaded at once, labelled at least `seq` (the highest number that may have been
    /// announced).
    pub fn resync(&self, seq: i64) {
        self.inner.seq.fetch_max(seq, Ordering::SeqCst);
        let mut state = self.state();
        let keys: Vec<Key> = state
            .topics
            .iter()
            .flat_map(|(subject, topics)| topics.iter().map(|t| (t.kind.name, subject.clone())))
            .collect();
        for key in keys {
            state.pending.entry(key).or_insert(None);
        }
        state.urgent = true;
        drop(state);
        self.inner.wake.notify_one();
    }

    /// Topics with subscribers, and open subscriptions, in this process.
    pub fn counts(&self) -> (usize, usize) {
        let topics = self.state().topics.values().map(Vec::len).sum();
        (topics, self.inner.open.load(Ordering::Relaxed))
    }

    /// Subscribes to `subject` as `kind`: the stream first yields its current value
    /// (unless `after` says the client has it), then every change. It ends with an error
    /// when the subject does not exist or the subscriber fell too far behind.
    pub fn subscribe(
        &self,
        kind: &'static LiveKind,
        subject: String,
        after: Option<i64>,
        connection: Option<&LiveConnection>,
    ) -> Result<impl Stream<Item = Result<LiveUpdate, ApiError>> + Send + 'static, ApiError> {
        let guard = self.admit(connection)?;
        let subject: Arc<str> = subject.into();
        let (receiver, latest) = {
            let mut state = self.state();
            let topics = state.topics.entry(subject.clone()).or_default();
            let topic = match topics.iter_mut().position(|t| std::ptr::eq(t.kind, kind)) {
                Some(index) => &mut topics[index],
                None => {
                    let (sender, _) = broadcast::channel(self.inner.settings.queue);
                    topics.push(Topic { kind, sender, latest: None });
                    topics.last_mut().expect("just pushed")
                }
            };
            let receiver = topic.sender.subscribe();
            let latest = topic.latest.clone();
            if latest.is_none() {
                state.pending.entry((kind.name, subject.clone())).or_insert(None);
                state.urgent = true;
            }
            (receiver, latest)
        };
        if latest.is_none() {
            self.inner.wake.notify_one();
        }
        let subscriber =
            Subscriber { receiver, first: latest, last_seq: after, _guard: guard, kind: kind.name, done: false };
        Ok(futures::stream::unfold(subscriber, Subscriber::next))
    }

    /// Counts a new subscription against the caps.
    fn admit(&self, connection: Option<&LiveConnection>) -> Result<Admitted, ApiError> {
        let settings = self.inner.settings;
        let open = self.inner.open.fetch_add(1, Ordering::SeqCst);
        let connection = connection.map(|c| c.open.clone());
        let on_connection = connection.as_ref().map_or(0, |c| c.fetch_add(1, Ordering::SeqCst));
        let admitted = Admitted { hub: self.inner.clone(), connection };
        metrics::gauge!("live_subscriptions").increment(1.0);
        if open >= settings.max_subscriptions {
            return Err(ApiError::new(
                503,
                "TooManySubscriptions",
                format!(
                    "this server holds its maximum of {} live subscriptions; retry later",
                    settings.max_subscriptions
                ),
            ));
        }
        if on_connection >= settings.max_subscriptions_per_connection {
            return Err(ApiError::new(
                429,
                "TooManySubscriptions",
                format!(
                    "a connection may hold at most {} live subscriptions; complete some first or open another connection",
                    settings.max_subscriptions_per_connection
                ),
            ));
        }
        Ok(admitted)
    }

    /// Reloads pending topics and broadcasts their values until `shutdown`: at once for a
    /// topic without a value, after the coalescing window otherwise.
    pub async fn run_flusher(&self, shutdown: CancellationToken) {
        loop {
            let (has_pending, urgent, since) = {
                let state = self.state();
                (!state.pending.is_empty(), state.urgent, state.pending_since)
            };
            if !has_pending {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.inner.wake.notified() => continue,
                }
            }
            if !urgent {
                let deadline = since.unwrap_or_else(tokio::time::Instant::now) + self.inner.settings.coalesce_window;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    // A topic without a value yet cuts the wait short.
                    () = self.inner.wake.notified() => continue,
                    () = tokio::time::sleep_until(deadline) => {}
                }
            }
            if let Err(error) = self.flush().await {
                tracing::warn!(%error, "loading live values failed; retrying in 1 s");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    /// One round: takes the pending topics, loads their values (one query per kind) and
    /// broadcasts them. On a database error the topics stay pending.
    async fn flush(&self) -> anyhow::Result<()> {
        let (pending, kinds) = {
            let mut state = self.state();
            state.urgent = false;
            state.pending_since = None;
            let pending = std::mem::take(&mut state.pending);
            // Topics whose subscribers all left need no value.
            state.topics.retain(|_, topics| {
                topics.retain(|t| t.sender.receiver_count() > 0);
                !topics.is_empty()
            });
            let mut kinds: HashMap<&'static str, (&'static LiveKind, Vec<String>)> = HashMap::new();
            for (kind_name, subject) in pending.keys() {
                let Some(topic) =
                    state.topics.get(subject).and_then(|ts| ts.iter().find(|t| t.kind.name == *kind_name))
                else {
                    continue;
                };
                kinds.entry(kind_name).or_insert_with(|| (topic.kind, Vec::new())).1.push(subject.to_string());
            }
            (pending, kinds)
        };
        metrics::gauge!("live_subjects").set(self.counts().0 as f64);
        if kinds.is_empty() {
            return Ok(());
        }
        // Read before loading: the values reflect at least every change announced so far.
        let seq = self.inner.seq.load(Ordering::SeqCst);
        let mut loaded = Vec::with_capacity(kinds.len());
        let result = async {
            let mut conn = self.inner.pool.get().await?;
            for (name, (kind, subjects)) in &kinds {
                loaded.push((*name, (kind.load)(&mut conn, subjects).await?));
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(error) = result {
            let mut state = self.state();
            for (key, at) in pending {
                let entry = state.pending.entry(key).or_insert(None);
                *entry = (*entry).max(at);
            }
            state.pending_since.get_or_insert_with(tokio::time::Instant::now);
            return Err(error);
        }
        let mut state = self.state();
        for (name, mut values) in loaded {
            for subject in &kinds[name].1 {
                let key: Key = (name, Arc::from(subject.as_str()));
                let Some(topic) =
                    state.topics.get_mut(&key.1).and_then(|ts| ts.iter_mut().find(|t| t.kind.name == name))
                else {
                    continue;
                };
                let changed_at = pending.get(&key).copied().flatten();
                let changed_at = changed_at.max(topic.latest.as_ref().and_then(|l| l.changed_at));
                let update = LiveUpdate { seq, changed_at, value: values.remove(subject) };
                topic.latest = Some(update.clone());
                // No receiver left is fine: the topic goes at the next round.
                let _ = topic.sender.send(update);
                metrics::counter!("live_updates_published_total", "kind" => name).increment(1);
            }
        }
        Ok(())
    }
}

/// A subscription's place in the caps, given back when its stream is dropped.
struct Admitted {
    hub: Arc<Inner>,
    connection: Option<Arc<AtomicUsize>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        metrics::gauge!("live_subscriptions").decrement(1.0);
        self.hub.open.fetch_sub(1, Ordering::SeqCst);
        if let Some(connection) = &self.connection {
            connection.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The state of one subscriber's stream.
struct Subscriber {
    receiver: broadcast::Receiver<LiveUpdate>,
    /// The topic's value when it subscribed, not yet yielded.
    first: Option<LiveUpdate>,
    /// The label of the newest value the client has.
    last_seq: Option<i64>,
    /// Holds its place in the caps while the stream lives.
    _guard: Admitted,
    kind: &'static str,
    done: bool,
}

impl Subscriber {
    async fn next(mut self) -> Option<(Result<LiveUpdate, ApiError>, Self)> {
        if self.done {
            return None;
        }
        loop {
            let update = match self.first.take() {
                Some(update) => update,
                None => match self.receiver.recv().await {
                    Ok(update) => update,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        metrics::counter!("live_slow_consumers_dropped_total").increment(1);
                        self.done = true;
                        let error = ApiError::new(
                            429,
                            "SlowConsumer",
                            format!(
                                "this subscription fell {missed} updates behind and was dropped; subscribe again with after set to the last seq received"
                            ),
                        );
                        return Some((Err(error), self));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            if update.value.is_none() {
                self.done = true;
                let error = ApiError::not_found("NotFound", format!("no such subject for {}", self.kind));
                return Some((Err(error), self));
            }
            if self.last_seq.is_some_and(|last| update.seq <= last) {
                continue;
            }
            self.last_seq = Some(update.seq);
            metrics::counter!("live_updates_sent_total").increment(1);
            return Some((Ok(update), self));
        }
    }
}

/// The value of an update as the owner's row type (for the subscription's field
/// resolvers).
pub fn live_value<T: Any + Send + Sync>(update: &LiveUpdate) -> Option<&T> {
    update.value.as_ref()?.downcast_ref::<T>()
}
