//! XRPC methods of the subscription plugin: the write procedures, which answer
//! `WriteDirectlyToPDS` (COVES_API §1.3): subscriptions are written by clients to their
//! own PDS.

mod subscribe;
mod unsubscribe;

use coves_plugin_api::write_directly::{self, body_object};
use coves_plugin_api::{ApiError, XrpcMethod, XrpcRequest};
use coves_plugin_community::params::body_community;
use serde_json::{Map, Value};

use crate::service::{Subscription, viewer_subscriptions};

/// Where clients find the URI of the viewer's subscription.
const SUBSCRIPTION_URI_FIELD: &str = "viewer.subscriptionUri of the community view";

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        write_directly::procedure(subscribe::NSID, |req| Box::pin(subscribe::subscribe(req))),
        write_directly::procedure(unsubscribe::NSID, |req| Box::pin(unsubscribe::unsubscribe(req))),
    ]
}

/// The body as a JSON object (empty when missing or not an object: the answer is then a
/// template) and the DID of the community its `community` names (`None` when absent).
async fn requested_community(req: &XrpcRequest) -> Result<(Map<String, Value>, Option<String>), ApiError> {
    let body = body_object(&req.body).unwrap_or_default();
    let community = body_community(&req.app, &body).await?;
    Ok((body, community))
}

/// The viewer's indexed subscription to `community`, best effort: the answer is the same
/// error with or without it, so a database problem only leaves it out (and is logged).
async fn indexed_subscription(req: &XrpcRequest, community: &str) -> Option<Subscription> {
    let viewer = req.viewer.did.as_ref()?;
    let lookup = async {
        let mut conn = req.app.conn().await.map_err(|e| e.message)?;
        viewer_subscriptions(&mut conn, viewer.as_str(), &[community]).await.map_err(|e| e.to_string())
    };
    match lookup.await {
        Ok(mut found) => found.remove(community),
        Err(error) => {
            tracing::warn!(%error, "viewer's subscription lookup failed; answering WriteDirectlyToPDS without it");
            None
        }
    }
}
