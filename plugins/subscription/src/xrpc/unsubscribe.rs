//! `social.coves.community.unsubscribe`: answers `WriteDirectlyToPDS` naming the
//! subscription record to delete on the viewer's PDS (COVES_API §1.3).

use coves_plugin_api::write_directly::WriteDirectly;
use coves_plugin_api::{XrpcRequest, XrpcResult};
use serde_json::Value;

use crate::SUBSCRIPTION_COLLECTION;

pub const NSID: &str = "social.coves.community.unsubscribe";

/// A user stays subscribed while any live record names the community.
const ALL_RECORDS_NOTE: &str = "You stay subscribed while any of your subscription records names the community: \
     delete each of them (normally there is one).";

/// Never succeeds. When a valid token names the viewer and the viewer has an indexed
/// subscription to the community, `rkey` is that subscription's (the newest live record);
/// otherwise the message says to take it from `viewer.subscriptionUri`. The answer names
/// the resolved community DID as `record.subject`.
pub async fn unsubscribe(req: XrpcRequest) -> XrpcResult {
    let (_, community) = super::requested_community(&req).await?;
    let mut answer = WriteDirectly::delete(NSID, SUBSCRIPTION_COLLECTION)
        .viewer(&req.viewer)
        .rkey_in(super::SUBSCRIPTION_URI_FIELD)
        .note(ALL_RECORDS_NOTE);
    if let Some(community) = &community {
        answer = answer.extra("subject", Value::from(community.as_str()));
        if let Some(subscription) = super::indexed_subscription(&req, community).await {
            answer = answer.rkey(subscription.rkey);
        }
    }
    Err(answer.into())
}
