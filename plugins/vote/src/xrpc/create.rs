//! `social.coves.feed.vote.create`: answers `WriteDirectlyToPDS` with the vote record to
//! create on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::write_directly::{WriteDirectly, body_object, record_ref, ref_template};
use coves_plugin_api::{XrpcRequest, XrpcResult};
use serde_json::{Map, Value, json};

use crate::VOTE_COLLECTION;

pub const NSID: &str = "social.coves.feed.vote.create";

/// The Go AppView toggled votes server-side; clients now do it themselves.
const TOGGLE_NOTE: &str = "This AppView does not toggle votes as the Go AppView did: if viewer.vote on the subject \
     already has this direction, delete that vote instead of creating one (com.atproto.repo.deleteRecord of the \
     record in viewer.voteUri); if it has the other direction, delete it and create the new one.";

/// Never succeeds: the answer is the record to create, built from the body's `subject`
/// (a strongRef) and `direction` when they are well-formed, with `<placeholders>` for
/// what is missing. A viewer with an indexed vote on the subject also gets it as
/// `existingVote` (`uri`, `rkey`, `direction`): the record to delete first.
pub async fn create_vote(req: XrpcRequest) -> XrpcResult {
    let body = body_object(&req.body).unwrap_or_default();
    let subject = body.get("subject").and_then(record_ref);
    let direction = body.get("direction").and_then(Value::as_str).filter(|d| matches!(*d, "up" | "down"));

    let mut record = Map::new();
    record.insert(
        "subject".into(),
        subject.as_ref().map_or_else(|| ref_template("post or comment"), |s| json!({"uri": s.uri, "cid": s.cid})),
    );
    record.insert("direction".into(), direction.unwrap_or("<up|down>").into());

    let mut answer = WriteDirectly::create(NSID, VOTE_COLLECTION).viewer(&req.viewer).record(record).note(TOGGLE_NOTE);
    if let (Some(viewer), Some(subject)) = (&req.viewer.did, &subject)
        && let Some(vote) = super::indexed_vote(&req.app, viewer, subject.uri.as_str()).await
    {
        answer = answer.extra(
            "existingVote",
            json!({"uri": vote.uri(viewer.as_str()), "rkey": vote.rkey, "direction": vote.direction_name()}),
        );
    }
    Err(answer.into())
}
