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
