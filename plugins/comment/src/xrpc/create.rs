//! `social.coves.community.comment.create`: answers `WriteDirectlyToPDS` with the comment
//! record to create on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::write_directly::{WriteDirectly, body_object, ref_template};
use coves_plugin_api::{XrpcRequest, XrpcResult};
use serde_json::{Map, Value, json};

use crate::COMMENT_COLLECTION;

pub const NSID: &str = "social.coves.community.comment.create";

/// Never succeeds: the answer is the record to create, built from the body's `reply`
/// (strongRefs naming their repos by DID), `content` (1 to 30000 bytes), `facets`,
/// `embed`, `langs` and `labels` when they are well-formed, with `<placeholders>` for the
/// required parts that are missing.
pub async fn create_comment(req: XrpcRequest) -> XrpcResult {
    let body = body_object(&req.body).unwrap_or_default();
    let reply = body.get("reply");
    let part = |key: &str| reply.and_then(|r| r.get(key)).and_then(super::thread_ref);

    let mut record = Map::new();
    record.insert(
        "reply".into(),
        json!({
            "root": part("root").unwrap_or_else(|| ref_template("post at the top of the thread")),
            "parent": part("parent").unwrap_or_else(|| ref_template("post or comment replied to")),
        }),
    );
    let note = super::copy_editable(&body, &mut record, Value::from("<comment text, 1 to 30000 bytes>"));

    let mut answer = WriteDirectly::create(NSID, COMMENT_COLLECTION).viewer(&req.viewer).record(record);
    if let Some(note) = note {
        answer = answer.note(note);
    }
    Err(answer.into())
}
