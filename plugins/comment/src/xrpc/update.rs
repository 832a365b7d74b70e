//! `social.coves.community.comment.update`: answers `WriteDirectlyToPDS` with the comment
//! record to put on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::write_directly::{WriteDirectly, body_object, ref_template};
use coves_plugin_api::{XrpcRequest, XrpcResult};
use serde_json::{Map, Value, json};

use crate::COMMENT_COLLECTION;

pub const NSID: &str = "social.coves.community.comment.update";

/// Threading is immutable; the client now writes the whole record itself.
const KEEP_NOTE: &str = "putRecord replaces the whole record: keep reply and createdAt of the current version \
     (this AppView ignores an update that changes reply) and pass swapRecord = its CID.";

/// Never succeeds. The body's `uri` names the comment: its rkey is given when it is the
/// viewer's (or no viewer is known). When the comment is indexed, the record is its current
/// version (reply, createdAt and unknown keys kept) with the body's content, facets, embed,
/// langs and labels, and `swapRecord` is the current CID; otherwise the parts to keep are
/// `<placeholders>`.
pub async fn update_comment(req: XrpcRequest) -> XrpcResult {
    let body = body_object(&req.body).unwrap_or_default();
    let comment = super::target_comment(&body);
    let mut answer = WriteDirectly::put(NSID, COMMENT_COLLECTION).viewer(&req.viewer).rkey_in(super::COMMENT_URI_FIELD);
    let mut notes = vec![KEEP_NOTE.to_owned()];
    let rkey = super::own_rkey(&req.viewer, comment.as_ref()).unwrap_or_else(|note| {
        notes.push(note);
        None
    });
    let current = match (&comment, rkey) {
        (Some(uri), Some(rkey)) => {
            answer = answer.rkey(rkey);
            super::indexed_version(&req.app, uri).await
        }
        _ => None,
    };

    let (mut record, fallback) = match &current {
        Some(current) => {
            let mut record = current.record.as_object().cloned().unwrap_or_default();
            let content = record.get("content").cloned().unwrap_or(Value::Null);
            for key in super::EDITABLE {
                record.remove(key);
            }
            (record, content)
        }
        None => {
            let mut record = Map::new();
            record.insert(
                "reply".into(),
                json!({"root": ref_template("post at the top of the thread, unchanged"),
                       "parent": ref_template("post or comment replied to, unchanged")}),
            );
            record.insert("createdAt".into(), "<createdAt of the comment, unchanged>".into());
            (record, Value::from("<new comment text, 1 to 30000 bytes>"))
        }
    };
    notes.extend(super::copy_editable(&body, &mut record, fallback));

    answer = answer.record(record).note(notes.join(" "));
    if let Some(current) = current {
        answer = answer.extra("swapRecord", current.cid);
    }
    Err(answer.into())
}
