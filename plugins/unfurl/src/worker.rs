//! The fetch task: drains the queue in batches, with leases (several processes share it),
//! fetches each link through the guarded [`Fetcher`] and caches a preview or a failure.
//! Transient failures are retried with exponential backoff; the last allowed one is
//! cached as a failure like any other.

use std::time::Duration;

use coves_plugin_api::diesel_async::AsyncConnection;
use coves_plugin_api::{AppContext, TaskContext, UnfurlSettings, poll_rounds, skip_commit_wait};
use futures::StreamExt;
use url::Url;

use crate::fetch::{Expect, Failure, Fetcher};
use crate::parse::{Preview, html_preview, oembed_preview, oembed_request, provider_for};
use crate::store::{self, Claimed};

/// Links claimed per round.
const BATCH: i64 = 32;
/// Pause between rounds when nothing is due.
const IDLE: Duration = Duration::from_millis(500);
/// Transient failures before the failure is cached.
const MAX_ATTEMPTS: i32 = 4;
/// First retry delay; doubled per attempt.
const BACKOFF: Duration = Duration::from_secs(30);
/// Retry delay after the host's token bucket was empty.
const RATE_LIMITED_DELAY: Duration = Duration::from_secs(1);
/// Rounds between two prunings of idle hosts' token buckets.
const PRUNE_EVERY: u32 = 256;

/// Runs until shutdown (at once when this process fetches nothing).
pub async fn run(ctx: TaskContext) -> anyhow::Result<()> {
    let settings = &ctx.app.instance.unfurl;
    if !settings.enabled || settings.fetch_concurrency == 0 {
        tracing::info!(
            enabled = settings.enabled,
            concurrency = settings.fetch_concurrency,
            "link previews are not fetched by this process"
        );
        return Ok(());
    }
    let fetcher = Fetcher::new(settings)?;
    // Two fetches (oEmbed, then the page) per link at most, plus slack.
    let lease = settings.timeout * 3 + Duration::from_secs(30);
    let mut rounds = 0u32;
    poll_rounds(&ctx.shutdown, IDLE, || {
        rounds = rounds.wrapping_add(1);
        if rounds.is_multiple_of(PRUNE_EVERY) {
            fetcher.forget_idle_hosts();
        }
        let (app, fetcher, shutdown) = (&ctx.app, &fetcher, &ctx.shutdown);
        async move {
            let claimed = match app.conn().await {
                Ok(mut conn) => store::claim(&mut conn, BATCH, lease).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not claim links to preview; retrying");
                    Vec::new()
                }),
                Err(_) => Vec::new(),
            };
            let full = claimed.len() == BATCH as usize;
            let work =
                futures::stream::iter(claimed).for_each_concurrent(settings.fetch_concurrency, |row| async move {
                    if row.fresh {
                        if let Err(e) = finish_fresh(app, &row).await {
                            tracing::warn!(url = row.url, error = %e, "could not dequeue a fresh link");
                        }
                        return;
                    }
                    let outcome = unfurl(fetcher, settings, &row.url).await;
                    record(app, settings, &row, outcome).await;
                });
            // At shutdown, fetches in flight are dropped; their leases run out and another
            // process (or the next start) takes the links again.
            tokio::select! {
                () = work => full,
                () = shutdown.cancelled() => false,
            }
        }
    })
    .await;
    Ok(())
}

/// The preview of `url`: the oEmbed provider's when one matches (falling back to the page
/// when it fails), else the page's own metadata.
pub async fn unfurl(fetcher: &Fetcher, settings: &UnfurlSettings, url: &str) -> Result<Preview, Failure> {
    let parsed = Url::parse(url).map_err(|e| Failure::definite("bad_url", format!("{url}: {e}")))?;
    if let Some(provider) = provider_for(&settings.oembed_providers, url) {
        let request = oembed_request(provider, url)
            .ok_or_else(|| Failure::definite("bad_url", format!("oEmbed endpoint {}", provider.endpoint)))?;
        match fetcher.get(&request, Expect::Json).await {
            Ok(page) => match oembed_preview(&page.body, &page.url) {
                Some(preview) => return Ok(preview),
                None => tracing::debug!(url, endpoint = provider.endpoint, "the oEmbed answer is not usable"),
            },
            Err(failure) => tracing::debug!(url, %failure, "oEmbed failed; reading the page instead"),
        }
    }
    let page = fetcher.get(&parsed, Expect::Html).await?;
    html_preview(&page.body, &page.url)
        .ok_or_else(|| Failure::definite("no_metadata", format!("{} has no title, description or image", page.url)))
}

async fn finish_fresh(app: &AppContext, row: &Claimed) -> anyhow::Result<()> {
    let mut conn = app.conn().await?;
    store::finish(&mut conn, row).await?;
    Ok(())
}

/// Stores an outcome, logs and counts it; database failures are logged (the lease runs
/// out and the link is taken again).
async fn record(app: &AppContext, settings: &UnfurlSettings, row: &Claimed, outcome: Result<Preview, Failure>) {
    let label = match &outcome {
        Ok(_) => "ok",
        Err(failure) => failure.kind,
    };
    metrics::counter!("unfurl_fetches_total", "outcome" => label).increment(1);
    match &outcome {
        Ok(preview) => tracing::debug!(url = row.url, source = preview.source.as_str(), "link preview fetched"),
        Err(failure) => tracing::info!(
            url = row.url,
            reason = failure.kind,
            detail = failure.detail,
            transient = failure.transient,
            attempts = row.attempts + 1,
            "link preview failed"
        ),
    }
    if let Err(e) = store(app, settings, row, outcome).await {
        tracing::warn!(url = row.url, error = %e, "could not store a link preview; it will be retried");
    }
}

async fn store(
    app: &AppContext,
    settings: &UnfurlSettings,
    row: &Claimed,
    outcome: Result<Preview, Failure>,
) -> anyhow::Result<()> {
    let mut conn = app.conn().await?;
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        // A lost cache write is only a refetch.
        skip_commit_wait(conn).await?;
        match outcome {
            Ok(preview) => {
                store::store_preview(conn, &row.url, &preview, settings.cache_ttl).await?;
                store::finish(conn, row).await?;
            }
            Err(failure) if failure.kind == "rate_limited" => {
                store::retry_later(conn, row, RATE_LIMITED_DELAY, false, &failure.to_string()).await?;
            }
            Err(failure) if failure.transient && row.attempts + 1 < MAX_ATTEMPTS => {
                let backoff = BACKOFF * 2u32.pow(row.attempts.clamp(0, 10) as u32);
                store::retry_later(conn, row, backoff, true, &failure.to_string()).await?;
            }
            Err(failure) => {
                store::store_failure(conn, &row.url, &failure.to_string(), settings.negative_ttl).await?;
                store::finish(conn, row).await?;
            }
        }
        Ok(())
    })
    .await
}
