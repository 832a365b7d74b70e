//! Jetstream identity and account events for known actors.
//!
//! Both only touch actors the AppView already knows: the network has far more accounts
//! than Coves has users, and an account that never wrote a Coves record has nothing here
//! to hide or re-verify. Nothing in this module makes network calls (it runs inside the
//! ingest transaction): an identity event only marks the actor due for re-verification,
//! which [`crate::verify`] does outside the transaction.

use coves_plugin_api::diesel::sql_types::{Array, Text};
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::{AccountEvent, IdentityEvent, IngestTx, store_account_status};

/// Marks the actors named by identity events due for an identity check (their handle or
/// DID document changed).
pub async fn apply_identity(tx: &mut IngestTx<'_>, events: &[IdentityEvent]) -> anyhow::Result<()> {
    let dids: Vec<&str> = events.iter().map(|e| e.did.as_str()).collect();
    diesel::sql_query(
        "UPDATE actors SET verify_after = now() -- actor: identity event
         WHERE did = ANY($1::text[]) AND (verify_after IS NULL OR verify_after > now())",
    )
    .bind::<Array<Text>, _>(&dids)
    .execute(tx.conn)
    .await?;
    Ok(())
}

/// Records account status changes (see [`store_account_status`]).
pub async fn apply_account(tx: &mut IngestTx<'_>, events: &[AccountEvent]) -> anyhow::Result<()> {
    store_account_status(tx.conn, "actors", events).await?;
    Ok(())
}
