//! The cleanup job: deletes expired cache rows at start and then every
//! `UNFURL_CACHE_CLEANUP_INTERVAL`, in bounded chunks, so the cache stays bounded by the
//! links seen within a TTL.

use coves_plugin_api::{AppContext, TaskContext};

use crate::store;

/// Runs until shutdown (at once when the cleanup is disabled in this process).
pub async fn run(ctx: TaskContext) -> anyhow::Result<()> {
    let settings = &ctx.app.instance.unfurl;
    if !settings.cleanup_enabled {
        tracing::info!("the link preview cache cleanup is disabled in this process");
        return Ok(());
    }
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return Ok(()),
            result = clean(&ctx.app) => if let Err(e) = result {
                tracing::warn!(error = %format!("{e:#}"), "the link preview cache cleanup failed; trying again next time");
            },
        }
        tokio::select! {
            () = ctx.shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(settings.cleanup_interval) => {}
        }
    }
}

/// Deletes the expired rows now; logs and counts them.
pub async fn clean(app: &AppContext) -> anyhow::Result<u64> {
    let mut conn = app.conn().await?;
    let deleted = store::delete_expired(&mut conn).await?;
    metrics::counter!("unfurl_cache_rows_deleted_total").increment(deleted);
    tracing::info!(deleted, "expired link previews deleted");
    Ok(deleted)
}
