//! Ingestion: decoded Jetstream events applied to the plugins in batches, one
//! transaction per batch, together with the stream cursor.

mod ingestor;
pub mod pipeline;

pub use ingestor::{BatchOutcome, Ingestor, load_cursor};
pub use pipeline::{IngestConfig, IngestStatus, run_pipeline};

use std::sync::Arc;
use std::time::Duration;

use coves_plugin_api::{AccountEvent, BackgroundTask, CommitEvent, DbPool, IdentityEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::jetstream::client::{ClientConfig, follow};

/// A decoded Jetstream event.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A record was created, updated or deleted.
    Commit(CommitEvent),
    /// An account's identity (handle) changed.
    Identity(IdentityEvent),
    /// An account's status changed.
    Account(AccountEvent),
}

impl Event {
    /// Jetstream's `time_us`, the cursor position after this event.
    pub fn time_us(&self) -> i64 {
        match self {
            Event::Commit(e) => e.time_us,
            Event::Identity(e) => e.time_us,
            Event::Account(e) => e.time_us,
        }
    }
}

/// The two background tasks of an ingesting process: the Jetstream client (reading into
/// a bounded channel) and the pipeline (applying batches from it).
pub fn tasks(
    pool: DbPool,
    ingestor: Arc<Ingestor>,
    client: ClientConfig,
    config: IngestConfig,
    status: Arc<IngestStatus>,
) -> Vec<BackgroundTask> {
    // A few batches in flight at most: memory stays bounded and a slow database slows reading.
    let (sender, receiver) = mpsc::channel(config.batch_size.saturating_mul(2).max(16));
    let reader_pool = pool.clone();
    vec![
        BackgroundTask::new("jetstream", move |ctx| async move {
            let Some(cursor) = stored_cursor(&reader_pool, &ctx.shutdown).await else { return Ok(()) };
            match cursor {
                Some(c) => tracing::info!(cursor = c, "resuming Jetstream from the stored cursor"),
                None => tracing::info!("no stored cursor; following Jetstream from now"),
            }
            follow(client, cursor, sender, ctx.shutdown).await
        }),
        BackgroundTask::new("ingest", move |ctx| async move {
            pipeline::run_pipeline(pool, ingestor, config, receiver, status, ctx.shutdown).await
        }),
    ]
}

/// The stored cursor, retrying until the database answers; `None` if shut down first.
async fn stored_cursor(pool: &DbPool, shutdown: &CancellationToken) -> Option<Option<i64>> {
    let mut delay = Duration::from_millis(200);
    loop {
        let attempt = async {
            let mut conn = pool.get().await.map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
            load_cursor(&mut conn, pipeline::STREAM).await
        };
        match attempt.await {
            Ok(cursor) => return Some(cursor),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot read the ingest cursor; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}
