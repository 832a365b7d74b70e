//! `social.coves.community.blockCommunity`: answers `WriteDirectlyToPDS` with the block
//! record to create on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::write_directly::WriteDirectly;
use coves_plugin_api::{XrpcRequest, XrpcResult};
use serde_json::{Map, Value, json};

use crate::BLOCK_COLLECTION;

pub const NSID: &str = "social.coves.community.blockCommunity";

/// Never succeeds: the answer is the record to create, its `subject` the DID of the
/// community the body's `community` names (a `<placeholder>` when absent). A viewer who
/// already blocks it also gets `existingBlock` (`uri`, `rkey`): no record is needed.
pub async fn block_community(req: XrpcRequest) -> XrpcResult {
    let community = super::requested_community(&req).await?;
    let mut record = Map::new();
    record.insert("subject".into(), community.clone().map_or_else(|| "<community DID>".into(), Value::from));
    let mut answer = WriteDirectly::create(NSID, BLOCK_COLLECTION).viewer(&req.viewer).record(record);
    if let (Some(viewer), Some(community)) = (&req.viewer.did, &community)
        && let Some(existing) = super::indexed_block(&req, community).await
    {
        answer = answer.extra("existingBlock", json!({"uri": existing.uri(viewer.as_str()), "rkey": existing.rkey}));
    }
    Err(answer.into())
}
