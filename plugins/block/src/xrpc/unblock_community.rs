//! `social.coves.community.unblockCommunity`: answers `WriteDirectlyToPDS` naming the block
//! record to delete on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::write_directly::WriteDirectly;
use coves_plugin_api::{XrpcRequest, XrpcResult};
use serde_json::Value;

use crate::BLOCK_COLLECTION;

pub const NSID: &str = "social.coves.community.unblockCommunity";

/// A user blocks a community while any live record names it.
const ALL_RECORDS_NOTE: &str = "The community stays blocked while any of your block records names it: delete each \
     of them (normally there is one).";

/// Never succeeds. When a valid token names the viewer and the viewer has an indexed
/// block of the community, `rkey` is that block's (the newest live record); otherwise the
/// message says to take it from `viewer.blockUri`. The resolved community DID is `subject`.
pub async fn unblock_community(req: XrpcRequest) -> XrpcResult {
    let community = super::requested_community(&req).await?;
    let mut answer = WriteDirectly::delete(NSID, BLOCK_COLLECTION)
        .viewer(&req.viewer)
        .rkey_in(super::BLOCK_URI_FIELD)
        .note(ALL_RECORDS_NOTE);
    if let Some(community) = &community {
        answer = answer.extra("subject", Value::from(community.as_str()));
        if let Some(block) = super::indexed_block(&req, community).await {
            answer = answer.rkey(block.rkey);
        }
    }
    Err(answer.into())
}
