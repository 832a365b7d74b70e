//! Background jobs a plugin runs beside the server (e.g. fetching link previews).

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::context::AppContext;

/// What a background task receives when the server starts it.
#[derive(Clone)]
pub struct TaskContext {
    /// Shared state (database pool, instance info).
    pub app: AppContext,
    /// Cancelled when the server shuts down; the task must return soon after.
    pub shutdown: CancellationToken,
}

/// A named job. The server runs it once, logs its error if it fails, and waits for it
/// at shutdown.
pub struct BackgroundTask {
    /// Name used in logs.
    pub name: &'static str,
    /// The job itself.
    pub run: Box<dyn FnOnce(TaskContext) -> BoxFuture<'static, anyhow::Result<()>> + Send>,
}

impl BackgroundTask {
    /// Wraps an async function as a task.
    pub fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: FnOnce(TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self { name, run: Box::new(move |ctx| Box::pin(run(ctx))) }
    }
}

/// Runs `round` until `shutdown`: right away again after a round that found a full batch
/// (more work is likely due), after `idle` otherwise. The usual loop of a task that works
/// through rows due in the database, several processes sharing them.
pub async fn poll_rounds<F, Fut>(shutdown: &CancellationToken, idle: std::time::Duration, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        let full = round().await;
        if shutdown.is_cancelled() {
            return;
        }
        if !full {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(idle) => {}
            }
        }
    }
}
