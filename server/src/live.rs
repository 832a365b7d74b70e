//! Live values across processes: the ingest announces changed subjects with `pg_notify`
//! inside its transaction (delivered on commit, to every listening process), and each
//! API process listens on one dedicated connection and hands the announcements to its
//! [`LiveHub`].
//!
//! A notification's payload is `"<seq> <commit time, µs since the epoch>\n<subject>\n…"`,
//! under PostgreSQL's 8000-byte limit: a batch that changed many subjects sends several,
//! all with the batch's number.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use coves_plugin_api::TaskContext;
use coves_plugin_api::live::LiveHub;
use diesel::sql_types::{Array, BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// The notification channel.
pub const CHANNEL: &str = "coves_live";
/// The listener's `application_name` (what an operator sees in `pg_stat_activity`).
pub const LISTENER_NAME: &str = "coves_live_listener";
/// Largest subject list in one payload (PostgreSQL refuses 8000 bytes and more).
const MAX_PAYLOAD: usize = 7_000;
/// How long the listener waits for a notification before checking its connection.
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// Announces `subjects` (inside the ingest transaction, last): one sequence number for
/// the batch, one notification per payload-sized chunk.
pub async fn announce(conn: &mut AsyncPgConnection, subjects: &[String]) -> diesel::QueryResult<()> {
    if subjects.is_empty() {
        return Ok(());
    }
    let chunks = chunk(subjects);
    sql_query(
        "/* live::announce */ SELECT pg_notify($1, s.seq || ' ' || \
           (extract(epoch FROM clock_timestamp()) * 1000000)::bigint || chr(10) || c) \
         FROM (SELECT nextval('live_update_seq') AS seq) s, unnest($2::text[]) c",
    )
    .bind::<Text, _>(CHANNEL)
    .bind::<Array<Text>, _>(chunks)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Newline-joined subject lists of at most [`MAX_PAYLOAD`] bytes (a subject longer than
/// that, which no identifier is, goes alone).
fn chunk(subjects: &[String]) -> Vec<String> {
    let mut chunks = vec![String::new()];
    for subject in subjects {
        let current = chunks.last_mut().expect("never empty");
        if !current.is_empty() && current.len() + 1 + subject.len() > MAX_PAYLOAD {
            chunks.push(String::new());
        }
        let current = chunks.last_mut().expect("never empty");
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(subject);
    }
    chunks
}

/// A parsed notification.
#[derive(Debug, PartialEq, Eq)]
struct Announcement<'a> {
    seq: i64,
    committed_at: DateTime<Utc>,
    subjects: Vec<&'a str>,
}

fn parse(payload: &str) -> Option<Announcement<'_>> {
    let (header, subjects) = payload.split_once('\n')?;
    let (seq, micros) = header.split_once(' ')?;
    Some(Announcement {
        seq: seq.parse().ok()?,
        committed_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        subjects: subjects.split('\n').filter(|s| !s.is_empty()).collect(),
    })
}

/// The background task of an API process: the hub's flusher, and the listener feeding
/// it, reconnecting with backoff; after each (re)connection every open topic is reloaded,
/// so nothing announced while it was away is missed.
pub async fn run(ctx: TaskContext, database_url: String) -> anyhow::Result<()> {
    let hub = ctx.app.live.clone();
    let flusher = {
        let (hub, shutdown) = (hub.clone(), ctx.shutdown.clone());
        tokio::spawn(async move { hub.run_flusher(shutdown).await })
    };
    let mut backoff = Duration::from_millis(100);
    while !ctx.shutdown.is_cancelled() {
        match listen(&database_url, &hub, &ctx.shutdown, &mut backoff).await {
            Ok(()) => break,
            Err(error) => {
                metrics::counter!("live_listener_reconnects_total").increment(1);
                tracing::warn!(error = %format!("{error:#}"), retry_in = ?backoff, "live listener lost its connection");
            }
        }
        tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
    let _ = flusher.await;
    Ok(())
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// One connection's life: `Ok` at shutdown, `Err` when the connection fails.
async fn listen(
    database_url: &str,
    hub: &LiveHub,
    shutdown: &CancellationToken,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(database_url).await.context("connecting")?;
    sql_query(format!("SET application_name = '{LISTENER_NAME}'")).execute(&mut conn).await?;
    sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).await?;
    // Anything announced before LISTEN took effect may be lost: reload every topic,
    // labelled below the newest number handed out (its batch may not have committed).
    let current: Seq =
        sql_query("SELECT CASE WHEN is_called THEN last_value - 1 ELSE 0 END AS seq FROM live_update_seq")
            .get_result(&mut conn)
            .await?;
    hub.resync(current.seq);
    *backoff = Duration::from_millis(100);
    tracing::info!("live listener connected");
    loop {
        let next = {
            let mut notifications = std::pin::pin!(conn.notifications_stream());
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = tokio::time::timeout(IDLE_CHECK, notifications.next()) => next,
            }
        };
        match next {
            Ok(Some(Ok(notification))) => match parse(&notification.payload) {
                Some(a) => hub.notified(a.seq, a.committed_at, a.subjects),
                None => tracing::warn!(payload = %notification.payload, "malformed live notification ignored"),
            },
            Ok(Some(Err(error))) => return Err(error).context("receiving notifications"),
            Ok(None) => anyhow::bail!("the connection closed"),
            // Quiet for a while: make sure the connection is still there.
            Err(_) => {
                tokio::time::timeout(Duration::from_secs(10), sql_query("SELECT 1").execute(&mut conn))
                    .await
                    .context("the connection did not answer a check within 10 s")??;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_stay_under_the_limit() {
        let subjects: Vec<String> = (0..500)
            .map(|i| format!("at://did:plc:abcdefghijklmnopqrstuvwx/social.coves.community.post/3l{i:011}"))
            .collect();
        let chunks = chunk(&subjects);
        assert!(chunks.len() > 1 && chunks.iter().all(|c| c.len() <= MAX_PAYLOAD), "{}", chunks.len());
        let mut seen = Vec::new();
        for c in &chunks {
            let payload = format!("42 1767268800123456\n{c}");
            let parsed = parse(&payload).expect("parses");
            assert_eq!(parsed.seq, 42);
            assert_eq!(parsed.committed_at.timestamp_micros(), 1_767_268_800_123_456);
            seen.extend(parsed.subjects.into_iter().map(str::to_owned));
        }
        assert_eq!(seen, subjects);
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse("x 1\nsubject"), None);
    }
}
