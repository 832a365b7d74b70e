//! Jetstream v1 messages and their decoding into [`Event`]s.
//!
//! Envelope problems (malformed JSON, an unknown kind, an invalid DID, collection or
//! record key) are reported as [`Rejected`] with a stable reason and whatever identifies
//! the event, so the caller can count, log and skip it.

use coves_plugin_api::{AccountEvent, CommitEvent, CommitOp, IdentityEvent};
use serde::Deserialize;
use serde_json::Value;

use crate::ingest::Event;

#[derive(Deserialize)]
struct WireEvent {
    did: String,
    time_us: i64,
    kind: String,
    commit: Option<WireCommit>,
    identity: Option<WireIdentity>,
    account: Option<WireAccount>,
}

#[derive(Deserialize)]
struct WireCommit {
    rev: String,
    operation: String,
    collection: String,
    rkey: String,
    record: Option<Value>,
    cid: Option<String>,
}

#[derive(Deserialize)]
struct WireIdentity {
    handle: Option<String>,
}

#[derive(Deserialize)]
struct WireAccount {
    active: bool,
    status: Option<String>,
}

/// An event that could not be decoded, with what is known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Stable reason, used as a metrics label.
    pub reason: &'static str,
    /// Human detail for the log.
    pub detail: String,
    /// The event's `time_us`, when readable (the cursor still moves past it).
    pub time_us: Option<i64>,
    /// The repository DID, when readable.
    pub did: Option<String>,
    /// The collection, when readable.
    pub collection: Option<String>,
    /// The record key, when readable.
    pub rkey: Option<String>,
}

impl Rejected {
    /// A rejection of a message whose content could not be read at all.
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into(), time_us: None, did: None, collection: None, rkey: None }
    }
}

/// Decodes one (decompressed) Jetstream message.
pub fn decode(message: &[u8]) -> Result<Event, Box<Rejected>> {
    let wire: WireEvent = serde_json::from_slice(message).map_err(|e| {
        let mut rejected = Rejected::new("malformed_json", e.to_string());
        // Salvage the cursor position if the envelope is readable at all.
        rejected.time_us = serde_json::from_slice::<Value>(message).ok().and_then(|v| v["time_us"].as_i64());
        Box::new(rejected)
    })?;
    let context = |mut r: Rejected| {
        r.time_us = Some(wire.time_us);
        r.did = Some(wire.did.clone());
        if let Some(commit) = &wire.commit {
            r.collection = Some(commit.collection.clone());
            r.rkey = Some(commit.rkey.clone());
        }
        Box::new(r)
    };
    let did = wire.did.parse().map_err(|e| context(Rejected::new("invalid_did", format!("{e}"))))?;
    match wire.kind.as_str() {
        "commit" => {
            let Some(commit) = &wire.commit else {
                return Err(context(Rejected::new("malformed_event", "commit event without `commit`")));
            };
            let collection =
                commit.collection.parse().map_err(|e| context(Rejected::new("invalid_collection", format!("{e}"))))?;
            let rkey = commit.rkey.parse().map_err(|e| context(Rejected::new("invalid_rkey", format!("{e}"))))?;
            let op = match commit.operation.as_str() {
                "create" | "update" => {
                    let Some(record @ Value::Object(_)) = commit.record.clone() else {
                        return Err(context(Rejected::new("missing_record", "create/update without a record object")));
                    };
                    let Some(cid) = commit.cid.clone() else {
                        return Err(context(Rejected::new("missing_record", "create/update without a cid")));
                    };
                    let record = std::sync::Arc::new(record);
                    if commit.operation == "create" {
                        CommitOp::Create { record, cid }
                    } else {
                        CommitOp::Update { record, cid }
                    }
                }
                "delete" => CommitOp::Delete,
                other => return Err(context(Rejected::new("unknown_operation", format!("operation {other:?}")))),
            };
            Ok(Event::Commit(CommitEvent { did, time_us: wire.time_us, rev: commit.rev.clone(), collection, rkey, op }))
        }
        "identity" => Ok(Event::Identity(IdentityEvent {
            did,
            time_us: wire.time_us,
            handle: wire.identity.as_ref().and_then(|i| i.handle.clone()),
        })),
        "account" => {
            let Some(account) = &wire.account else {
                return Err(context(Rejected::new("malformed_event", "account event without `account`")));
            };
            Ok(Event::Account(AccountEvent {
                did,
                time_us: wire.time_us,
                active: account.active,
                status: account.status.clone(),
            }))
        }
        other => Err(context(Rejected::new("unknown_kind", format!("kind {other:?}")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(jsonl: &str) -> (usize, Vec<Rejected>) {
        let mut ok = 0;
        let mut rejected = Vec::new();
        for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
            match decode(line.as_bytes()) {
                Ok(_) => ok += 1,
                Err(r) => rejected.push(*r),
            }
        }
        (ok, rejected)
    }

    #[test]
    fn production_captures_decode_without_rejections() {
        for file in ["golden_v1.jsonl", "network_sample_v1.jsonl"] {
            let path = format!("{}/../testdata/jetstream/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("capture file");
            let (ok, rejected) = decode_all(&text);
            assert!(ok >= 10, "{file}: {ok} decoded");
            assert!(rejected.is_empty(), "{file}: {rejected:?}");
        }
    }

    #[test]
    fn each_problem_has_its_reason_and_context() {
        let cases = [
            (r#"{"did":"did:plc:a","time_us":5,"kind":"commit""#, "malformed_json", None),
            (r#"{"did":"did:plc:a","time_us":5,"kind":"party"}"#, "unknown_kind", Some(5)),
            (r#"{"did":"nope","time_us":5,"kind":"identity","identity":{}}"#, "invalid_did", Some(5)),
            (
                r#"{"did":"did:plc:a","time_us":6,"kind":"commit","commit":{"rev":"r","operation":"create","collection":"not an nsid","rkey":"k","record":{},"cid":"c"}}"#,
                "invalid_collection",
                Some(6),
            ),
            (
                r#"{"did":"did:plc:a","time_us":6,"kind":"commit","commit":{"rev":"r","operation":"create","collection":"a.b.c","rkey":"..","record":{},"cid":"c"}}"#,
                "invalid_rkey",
                Some(6),
            ),
            (
                r#"{"did":"did:plc:a","time_us":6,"kind":"commit","commit":{"rev":"r","operation":"create","collection":"a.b.c","rkey":"k"}}"#,
                "missing_record",
                Some(6),
            ),
            (
                r#"{"did":"did:plc:a","time_us":6,"kind":"commit","commit":{"rev":"r","operation":"merge","collection":"a.b.c","rkey":"k"}}"#,
                "unknown_operation",
                Some(6),
            ),
        ];
        for (input, reason, time_us) in cases {
            let rejected = decode(input.as_bytes()).expect_err(input);
            assert_eq!((rejected.reason, rejected.time_us), (reason, time_us), "{input}: {}", rejected.detail);
        }
        let rejected = decode(
            br#"{"did":"did:plc:a","time_us":6,"kind":"commit","commit":{"rev":"r","operation":"merge","collection":"a.b.c","rkey":"k"}}"#,
        )
        .expect_err("unknown operation");
        assert_eq!(
            (rejected.did.as_deref(), rejected.collection.as_deref(), rejected.rkey.as_deref()),
            (Some("did:plc:a"), Some("a.b.c"), Some("k"))
        );
    }
}
