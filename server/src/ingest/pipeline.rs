//! The ingest loop: batches what the Jetstream client reads (bounded by count and by
//! time), applies each batch in one transaction, retries database failures without
//! dropping anything, and publishes progress for metrics and `/ready`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use coves_plugin_api::DbPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Event, Ingestor};
use crate::jetstream::client::Incoming;

/// Batching settings.
#[derive(Clone, Copy, Debug)]
pub struct IngestConfig {
    /// Most events per transaction.
    pub batch_size: usize,
    /// Longest wait, after a batch's first event, for more events.
    pub batch_wait: Duration,
}

/// Progress shared with `/ready` and metrics.
#[derive(Debug, Default)]
pub struct IngestStatus {
    /// `time_us` of the newest committed position; 0 before the first commit.
    committed_time_us: AtomicI64,
}

impl IngestStatus {
    /// Records a committed cursor.
    pub fn committed(&self, time_us: i64) {
        self.committed_time_us.fetch_max(time_us, Ordering::Relaxed);
    }

    /// How far behind the stream's event time the committed state is, if anything was
    /// committed yet.
    pub fn lag(&self) -> Option<Duration> {
        let committed = self.committed_time_us.load(Ordering::Relaxed);
        if committed == 0 {
            return None;
        }
        let now = chrono::Utc::now().timestamp_micros();
        Some(Duration::from_micros(u64::try_from(now.saturating_sub(committed)).unwrap_or(0)))
    }
}

/// The cursor stream name in `ingest_cursor`.
pub const STREAM: &str = "jetstream";

/// Applies batches from `incoming` until it closes or `shutdown` is cancelled. The batch
/// being applied at shutdown is finished; what was read but not applied is replayed from
/// the cursor at the next start.
pub async fn run_pipeline(
    pool: DbPool,
    ingestor: Arc<Ingestor>,
    config: IngestConfig,
    mut incoming: mpsc::Receiver<Incoming>,
    status: Arc<IngestStatus>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut events = Vec::with_capacity(config.batch_size);
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            first = incoming.recv() => first,
        };
        let Some(first) = first else { return Ok(()) };
        let mut cursor = None;
        let deadline = tokio::time::Instant::now() + config.batch_wait;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            take(item, &mut events, &mut cursor);
            if events.len() >= config.batch_size {
                break;
            }
            next = match incoming.try_recv() {
                Ok(item) => Some(item),
                Err(_) => tokio::time::timeout_at(deadline, incoming.recv()).await.ok().flatten(),
            };
        }
        if let Some(cursor) = cursor {
            apply(&pool, &ingestor, &events, cursor, &status, &shutdown).await?;
        }
        events.clear();
    }
}

/// Counts an incoming item and keeps it if it is an event.
fn take(item: Incoming, events: &mut Vec<Event>, cursor: &mut Option<i64>) {
    let time_us = match item {
        Incoming::Event(event) => {
            let time_us = event.time_us();
            metrics::counter!("ingest_events_received_total", "kind" => kind(&event)).increment(1);
            events.push(event);
            Some(time_us)
        }
        Incoming::Rejected(rejected) => {
            metrics::counter!("ingest_events_received_total", "kind" => "unreadable").increment(1);
            metrics::counter!("ingest_events_skipped_total", "reason" => rejected.reason).increment(1);
            tracing::warn!(
                reason = rejected.reason,
                detail = %rejected.detail,
                did = rejected.did.as_deref().unwrap_or("-"),
                collection = rejected.collection.as_deref().unwrap_or("-"),
                rkey = rejected.rkey.as_deref().unwrap_or("-"),
                "skipped a Jetstream message"
            );
            rejected.time_us
        }
    };
    if let Some(time_us) = time_us {
        *cursor = Some(cursor.map_or(time_us, |c: i64| c.max(time_us)));
    }
}

fn kind(event: &Event) -> &'static str {
    match event {
        Event::Commit(_) => "commit",
        Event::Identity(_) => "identity",
        Event::Account(_) => "account",
    }
}

/// Applies one batch, retrying database failures with backoff until it commits or the
/// server shuts down. While it retries, reading stops: backpressure, not loss.
async fn apply(
    pool: &DbPool,
    ingestor: &Ingestor,
    events: &[Event],
    cursor: i64,
    status: &IngestStatus,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        let result = async {
            let mut conn = pool.get().await.map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
            ingestor.apply_batch(&mut conn, STREAM, events, cursor).await
        }
        .await;
        match result {
            Ok(outcome) => {
                metrics::histogram!("ingest_batch_size").record(events.len() as f64);
                metrics::histogram!("ingest_commit_seconds").record(started.elapsed().as_secs_f64());
                metrics::counter!("ingest_events_applied_total").increment(outcome.applied as u64);
                metrics::counter!("ingest_events_skipped_total", "reason" => "unknown_collection")
                    .increment(outcome.unrouted as u64);
                for skipped in &outcome.skipped {
                    metrics::counter!("ingest_events_skipped_total", "reason" => skipped.reason).increment(1);
                    tracing::warn!(uri = %skipped.uri, reason = skipped.reason, detail = %skipped.detail, "skipped a record");
                }
                status.committed(cursor);
                if let Some(lag) = status.lag() {
                    metrics::gauge!("ingest_lag_seconds").set(lag.as_secs_f64());
                }
                return Ok(());
            }
            Err(e) => {
                metrics::counter!("ingest_batch_failures_total").increment(1);
                tracing::error!(error = %format!("{e:#}"), retry_in = ?delay, events = events.len(), "ingest batch failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_unknown_before_the_first_commit_then_follows_the_newest_cursor() {
        let status = IngestStatus::default();
        assert_eq!(status.lag(), None);
        let now = chrono::Utc::now().timestamp_micros();
        status.committed(now - 60_000_000);
        status.committed(now - 90_000_000); // an older cursor never moves it back
        let lag = status.lag().expect("lag after a commit");
        assert!(lag >= Duration::from_secs(60) && lag < Duration::from_secs(70), "{lag:?}");
    }
}
