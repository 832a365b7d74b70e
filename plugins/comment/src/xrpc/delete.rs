//! `social.coves.community.comment.delete`: answers `WriteDirectlyToPDS` naming the comment
//! record to delete on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::write_directly::{WriteDirectly, body_object};
use coves_plugin_api::{XrpcRequest, XrpcResult};

use crate::COMMENT_COLLECTION;

pub const NSID: &str = "social.coves.community.comment.delete";

/// Never succeeds. The rkey is the last segment of the body's `uri` when it names a comment
/// of the viewer (or no viewer is known); otherwise the message says where to find it.
pub async fn delete_comment(req: XrpcRequest) -> XrpcResult {
    let body = body_object(&req.body).unwrap_or_default();
    let comment = super::target_comment(&body);
    let mut answer =
        WriteDirectly::delete(NSID, COMMENT_COLLECTION).viewer(&req.viewer).rkey_in(super::COMMENT_URI_FIELD);
    match super::own_rkey(&req.viewer, comment.as_ref()) {
        Ok(Some(rkey)) => answer = answer.rkey(rkey),
        Ok(None) => {}
        Err(note) => answer = answer.note(note),
    }
    Err(answer.into())
}
