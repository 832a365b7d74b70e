//! The background identity check: verifies each due actor's handle both ways and records
//! its PDS, outside any ingest transaction (it makes network calls).
//!
//! Rows are claimed with a short lease (`verify_after` pushed into the future), so several
//! processes can run this task against one database without checking an actor twice, and
//! an identity event that arrives during a check (it resets `verify_after` to now) is not
//! lost: the result only clears `verify_after` if the lease is still the one taken.

use std::time::Duration;

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncConnection, RunQueryDsl};
use coves_plugin_api::syntax::Did;
use coves_plugin_api::{AppContext, Freshness, IdentityError, TaskContext, poll_rounds, skip_commit_wait};
use futures::StreamExt;

/// Actors claimed per round.
const BATCH: i32 = 64;
/// Identity checks in flight at once.
const CONCURRENCY: usize = 8;
/// How long a claim lasts before another process may retry the actor.
const LEASE: &str = "2 minutes";
/// Pause between rounds when nothing is due.
const IDLE: Duration = Duration::from_millis(500);

/// Runs until shutdown.
pub async fn run(ctx: TaskContext) -> anyhow::Result<()> {
    poll_rounds(&ctx.shutdown, IDLE, || async {
        let claimed = claim(&ctx.app).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not claim actors for identity checks; retrying");
            Vec::new()
        });
        let full = claimed.len() == BATCH as usize;
        futures::stream::iter(claimed).for_each_concurrent(CONCURRENCY, |row| check(&ctx.app, row)).await;
        full
    })
    .await;
    Ok(())
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    did: String,
    #[diesel(sql_type = Timestamptz)]
    lease: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    handle: Option<String>,
}

async fn claim(app: &AppContext) -> anyhow::Result<Vec<Claimed>> {
    let mut conn = app.conn().await?;
    let claim = sql_query(format!(
        "UPDATE actors SET verify_after = now() + interval '{LEASE}' -- actor: claim identity checks
         WHERE did IN (SELECT did FROM actors WHERE verify_after <= now()
                       ORDER BY verify_after LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING did, verify_after AS lease, handle"
    ))
    .bind::<Integer, _>(BATCH);
    // A lost claim only leaves the actors due: no need to wait for the disk.
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        skip_commit_wait(conn).await?;
        Ok(claim.load(conn).await?)
    })
    .await
}

/// Checks one actor and stores the outcome; failures are logged, never fatal.
async fn check(app: &AppContext, row: Claimed) {
    let Ok(did) = row.did.parse::<Did>() else {
        tracing::warn!(did = row.did, "stored actor DID does not parse; not checking it");
        return;
    };
    let outcome = app.identity.verified_handle(&did, Freshness::Fresh).await;
    let moved = match (&outcome, &row.handle) {
        (Ok(new), Some(old)) => !new.as_str().eq_ignore_ascii_case(old),
        (Err(IdentityError::Unavailable(_)), _) | (_, None) => false,
        (Err(_), Some(_)) => true,
    };
    if moved {
        // The old handle's cached resolution still names this DID; drop it so lookups by
        // the old handle stop finding the account.
        app.identity.forget(&did).await;
    }
    // The document was just refreshed, so this is a cache hit.
    let pds = app.identity.did_document(&did, Freshness::Cached).await.ok().and_then(|d| d.pds_endpoint.clone());
    let label = match &outcome {
        Ok(_) => "verified",
        Err(IdentityError::Unavailable(_)) => "unavailable",
        Err(_) => "invalid",
    };
    metrics::counter!("actor_identity_checks_total", "outcome" => label).increment(1);
    if let Err(e) = store(app, &row, outcome, pds).await {
        tracing::warn!(did = row.did, error = %e, "could not store an identity check; it will be retried");
    }
}

async fn store(
    app: &AppContext,
    row: &Claimed,
    outcome: Result<coves_plugin_api::syntax::Handle, IdentityError>,
    pds: Option<String>,
) -> anyhow::Result<()> {
    let mut conn = app.conn().await?;
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        // A lost result is redone when the lease runs out: no need to wait for the disk.
        skip_commit_wait(conn).await?;
        match outcome {
            Ok(handle) => {
                let handle = handle.as_str().to_ascii_lowercase();
                // A handle belongs to one account: whoever held it before must be checked
                // again (they moved to another handle, or lost it).
                sql_query(
                    "UPDATE actors SET handle = NULL, verify_after = now() -- actor: handle moved
                     WHERE handle = $1 AND did <> $2",
                )
                .bind::<Text, _>(&handle)
                .bind::<Text, _>(&row.did)
                .execute(conn)
                .await?;
                sql_query(
                    "UPDATE actors SET handle = $2, pds_endpoint = $3, handle_verified_at = now(),
                            handle_error = NULL,
                            verify_after = CASE WHEN verify_after = $4 THEN NULL ELSE verify_after END
                     WHERE did = $1 -- actor: identity verified",
                )
                .bind::<Text, _>(&row.did)
                .bind::<Text, _>(&handle)
                .bind::<Nullable<Text>, _>(pds)
                .bind::<Timestamptz, _>(row.lease)
                .execute(conn)
                .await?;
            }
            Err(error) => {
                // A network failure keeps the last verified handle and retries soon; a
                // definite answer (no handle, or a claim that does not resolve back) clears it.
                let (clear, retry) = match &error {
                    IdentityError::Unavailable(_) => (false, "1 minute"),
                    _ => (true, "6 hours"),
                };
                tracing::debug!(did = row.did, error = %error, "identity check failed");
                sql_query(format!(
                    "UPDATE actors SET handle = CASE WHEN $2 THEN NULL ELSE handle END,
                            pds_endpoint = COALESCE($3, pds_endpoint), handle_error = $4,
                            verify_after = CASE WHEN verify_after = $5 THEN now() + interval '{retry}' ELSE verify_after END
                     WHERE did = $1 -- actor: identity check failed"
                ))
                .bind::<Text, _>(&row.did)
                .bind::<Bool, _>(clear)
                .bind::<Nullable<Text>, _>(pds)
                .bind::<Text, _>(error.to_string())
                .bind::<Timestamptz, _>(row.lease)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    })
    .await
}
