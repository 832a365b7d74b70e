//! `social.coves.feed.vote.delete`: answers `WriteDirectlyToPDS` naming the vote record
//! to delete on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::syntax::AtUri;
use coves_plugin_api::write_directly::{WriteDirectly, body_object};
use coves_plugin_api::{XrpcRequest, XrpcResult};

use crate::VOTE_COLLECTION;

pub const NSID: &str = "social.coves.feed.vote.delete";

/// Never succeeds. When a valid token names the viewer and the body's `subject.uri` names
/// a subject the viewer has an indexed vote on, `rkey` is that effective vote's; otherwise
/// the message says to take it from `viewer.voteUri`.
pub async fn delete_vote(req: XrpcRequest) -> XrpcResult {
    // Only the subject's URI matters here; its CID is not needed to find the vote.
    let subject_uri = body_object(&req.body)
        .as_ref()
        .and_then(|body| body.get("subject")?.get("uri")?.as_str().map(str::to_owned))
        .filter(|uri| uri.parse::<AtUri>().is_ok());

    let mut answer = WriteDirectly::delete(NSID, VOTE_COLLECTION).viewer(&req.viewer).rkey_in(super::VOTE_URI_FIELD);
    if let (Some(viewer), Some(subject_uri)) = (&req.viewer.did, &subject_uri)
        && let Some(vote) = super::indexed_vote(&req.app, viewer, subject_uri).await
    {
        answer = answer.rkey(vote.rkey);
    }
    Err(answer.into())
}
