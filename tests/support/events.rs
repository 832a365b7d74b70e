//! Factories for Jetstream events.

use coves_appview::ingest::Event;
use coves_plugin_api::{AccountEvent, CommitEvent, CommitOp, IdentityEvent};
use serde_json::Value;

/// A record create.
pub fn create(did: &str, collection: &str, rkey: &str, rev: &str, time_us: i64, record: Value) -> Event {
    commit(did, collection, rkey, rev, time_us, CommitOp::Create { record: record.into(), cid: fake_cid(rev) })
}

/// A record update.
pub fn update(did: &str, collection: &str, rkey: &str, rev: &str, time_us: i64, record: Value) -> Event {
    commit(did, collection, rkey, rev, time_us, CommitOp::Update { record: record.into(), cid: fake_cid(rev) })
}

/// A record delete.
pub fn delete(did: &str, collection: &str, rkey: &str, rev: &str, time_us: i64) -> Event {
    commit(did, collection, rkey, rev, time_us, CommitOp::Delete)
}

fn commit(did: &str, collection: &str, rkey: &str, rev: &str, time_us: i64, op: CommitOp) -> Event {
    Event::Commit(CommitEvent {
        did: did.parse().expect("test DID"),
        time_us,
        rev: rev.to_owned(),
        collection: collection.parse().expect("test NSID"),
        rkey: rkey.parse().expect("test rkey"),
        op,
    })
}

/// An identity event.
pub fn identity(did: &str, handle: Option<&str>, time_us: i64) -> Event {
    Event::Identity(IdentityEvent { did: did.parse().expect("test DID"), time_us, handle: handle.map(str::to_owned) })
}

/// An account event.
pub fn account(did: &str, active: bool, status: Option<&str>, time_us: i64) -> Event {
    Event::Account(AccountEvent {
        did: did.parse().expect("test DID"),
        time_us,
        active,
        status: status.map(str::to_owned),
    })
}

/// A syntactically valid CID that differs per revision.
fn fake_cid(rev: &str) -> String {
    format!("bafyreitest{}", rev.to_ascii_lowercase())
}
