//! `social.coves.community.subscribe`: answers `WriteDirectlyToPDS` with the subscription
//! record to create on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::write_directly::WriteDirectly;
use coves_plugin_api::{XrpcRequest, XrpcResult};
use serde_json::{Map, Value, json};

use crate::SUBSCRIPTION_COLLECTION;
use crate::record::clamp_visibility;

pub const NSID: &str = "social.coves.community.subscribe";

/// Never succeeds: the answer is the record to create, its `subject` the DID of the
/// community the body's `community` names (a `<placeholder>` when absent) and its
/// `contentVisibility` the body's, clamped to 1..5, when given. A viewer already
/// subscribed also gets `existingSubscription` (`uri`, `rkey`): no record is needed.
pub async fn subscribe(req: XrpcRequest) -> XrpcResult {
    let (body, community) = super::requested_community(&req).await?;
    let mut record = Map::new();
    record.insert("subject".into(), community.clone().map_or_else(|| "<community DID>".into(), Value::from));
    if let Some(visibility) = body.get("contentVisibility").filter(|v| !v.is_null()) {
        record.insert("contentVisibility".into(), clamp_visibility(Some(visibility)).into());
    }
    let mut answer = WriteDirectly::create(NSID, SUBSCRIPTION_COLLECTION).viewer(&req.viewer).record(record);
    if let (Some(viewer), Some(community)) = (&req.viewer.did, &community)
        && let Some(existing) = super::indexed_subscription(&req, community).await
    {
        answer =
            answer.extra("existingSubscription", json!({"uri": existing.uri(viewer.as_str()), "rkey": existing.rkey}));
    }
    Err(answer.into())
}
