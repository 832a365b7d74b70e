//! Decoded Jetstream events as plugins receive them.
//!
//! The server validates the envelope (DID, collection, record key) before routing, so
//! plugins only validate their own record shapes.

use std::sync::Arc;

use crate::syntax::{AtUri, Did, Nsid, RecordKey};

/// A repository commit touching one record.
#[derive(Clone, Debug, PartialEq)]
pub struct CommitEvent {
    /// The repository (account) the record lives in.
    pub did: Did,
    /// Jetstream's event time in unix microseconds; also the ingest cursor.
    pub time_us: i64,
    /// The repository revision (a TID, increasing per repository).
    pub rev: String,
    /// The record's collection NSID.
    pub collection: Nsid,
    /// The record key.
    pub rkey: RecordKey,
    /// What happened to the record.
    pub op: CommitOp,
}

/// The operation of a [`CommitEvent`].
#[derive(Clone, Debug, PartialEq)]
pub enum CommitOp {
    /// A new record.
    Create {
        /// The record JSON, including `$type` (shared: routing a batch copies no records).
        record: Arc<serde_json::Value>,
        /// The record's CID.
        cid: String,
    },
    /// A replaced record.
    Update {
        /// The new record JSON.
        record: Arc<serde_json::Value>,
        /// The new record's CID.
        cid: String,
    },
    /// A deleted record (deletes carry no record).
    Delete,
}

impl CommitEvent {
    /// The record's AT-URI: `at://{did}/{collection}/{rkey}`.
    pub fn uri(&self) -> AtUri {
        AtUri::from_parts(&self.did, &self.collection, &self.rkey)
    }

    /// The record and CID of a create or update; `None` for deletes.
    pub fn record(&self) -> Option<(&serde_json::Value, &str)> {
        match &self.op {
            CommitOp::Create { record, cid } | CommitOp::Update { record, cid } => Some((record, cid)),
            CommitOp::Delete => None,
        }
    }
}

/// An identity change (handle or DID document) for one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityEvent {
    /// The account whose identity changed.
    pub did: Did,
    /// Jetstream's event time in unix microseconds.
    pub time_us: i64,
    /// The handle the relay saw, unverified; resolvers re-verify it.
    pub handle: Option<String>,
}

/// An account status change (deactivation, takedown, deletion, reactivation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountEvent {
    /// The account.
    pub did: Did,
    /// Jetstream's event time in unix microseconds.
    pub time_us: i64,
    /// Whether the account is active.
    pub active: bool,
    /// Why an inactive account is inactive: `deactivated`, `takendown`, `deleted`, ...
    pub status: Option<String>,
}

impl AccountEvent {
    /// The status to store: `active`, or why the account is not (`takendown`,
    /// `deactivated`, `deleted`, ...; `inactive` when the relay gave no reason). Only
    /// active accounts are readable.
    pub fn status_label(&self) -> String {
        if self.active {
            return ACTIVE_STATUS.to_owned();
        }
        match self.status.as_deref().map(str::trim) {
            Some(status) if !status.is_empty() && !status.eq_ignore_ascii_case(ACTIVE_STATUS) => {
                status.to_ascii_lowercase()
            }
            _ => "inactive".to_owned(),
        }
    }

    /// The newest event (greatest `time_us`) per account: replays and reordered events
    /// must not undo a later change.
    pub fn newest_per_account(events: &[AccountEvent]) -> Vec<&AccountEvent> {
        let mut newest: std::collections::BTreeMap<&str, &AccountEvent> = std::collections::BTreeMap::new();
        for event in events {
            if newest.get(event.did.as_str()).is_none_or(|seen| seen.time_us < event.time_us) {
                newest.insert(event.did.as_str(), event);
            }
        }
        newest.into_values().collect()
    }
}

/// The stored status of an active account.
pub const ACTIVE_STATUS: &str = "active";

/// Stores account status changes in `table`, a plugin table keyed by `did` with the
/// columns `status text` and `status_time_us bigint` (see the actor and community
/// plugins). Rows of unknown accounts are not created; the newest event per account wins,
/// and an event older than the stored one changes nothing, so replays cannot undo a
/// later takedown or reactivation.
pub async fn store_account_status(
    conn: &mut diesel_async::AsyncPgConnection,
    table: &'static str,
    events: &[AccountEvent],
) -> diesel::QueryResult<usize> {
    use diesel::sql_types::{Array, BigInt, Text};
    use diesel_async::RunQueryDsl;
    let newest = AccountEvent::newest_per_account(events);
    let dids: Vec<&str> = newest.iter().map(|e| e.did.as_str()).collect();
    let statuses: Vec<String> = newest.iter().map(|e| e.status_label()).collect();
    let times: Vec<i64> = newest.iter().map(|e| e.time_us).collect();
    diesel::sql_query(format!(
        "/* {table}: account events */ UPDATE {table} t SET status = e.status, status_time_us = e.time_us \
         FROM unnest($1::text[], $2::text[], $3::bigint[]) AS e(did, status, time_us) \
         WHERE t.did = e.did AND (t.status_time_us IS NULL OR t.status_time_us < e.time_us)"
    ))
    .bind::<Array<Text>, _>(&dids)
    .bind::<Array<Text>, _>(&statuses)
    .bind::<Array<BigInt>, _>(&times)
    .execute(conn)
    .await
}

#[cfg(test)]
mod account_tests {
    use super::*;

    fn event(time_us: i64, active: bool, status: Option<&str>) -> AccountEvent {
        AccountEvent {
            did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz".parse().expect("DID"),
            time_us,
            active,
            status: status.map(str::to_owned),
        }
    }

    #[test]
    fn inactive_accounts_keep_the_reason() {
        assert_eq!(event(1, true, None).status_label(), "active");
        assert_eq!(event(1, false, Some("takendown")).status_label(), "takendown");
        assert_eq!(event(1, false, Some("Deleted")).status_label(), "deleted");
        assert_eq!(event(1, false, None).status_label(), "inactive");
        assert_eq!(event(1, false, Some("active")).status_label(), "inactive", "inactive, whatever the status says");
    }

    #[test]
    fn the_newest_event_per_account_wins() {
        let events = [event(3, false, Some("takendown")), event(2, true, None), event(1, true, None)];
        let newest = AccountEvent::newest_per_account(&events);
        assert_eq!(newest.len(), 1);
        assert_eq!(newest[0].time_us, 3);
    }
}
