//! XRPC methods of the block plugin: the write procedures, which answer
//! `WriteDirectlyToPDS` (COVES_API §1.3): blocks are written by clients to their own PDS.

mod block_community;
mod unblock_community;

use coves_plugin_api::write_directly::{self, body_object};
use coves_plugin_api::{ApiError, XrpcMethod, XrpcRequest};
use coves_plugin_community::resolve_community_param;
use serde_json::Value;

use crate::service::{Block, viewer_blocks};

/// Where clients find the URI of the viewer's block.
const BLOCK_URI_FIELD: &str = "viewer.blockUri of the community view";

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        write_directly::procedure(block_community::NSID, |req| Box::pin(block_community::block_community(req))),
        write_directly::procedure(unblock_community::NSID, |req| Box::pin(unblock_community::unblock_community(req))),
    ]
}

/// The DID of the community the body's `community` names (`None` when absent or the body
/// is not a JSON object: the answer is then a template). 400 `InvalidRequest` for a
/// malformed identifier, 404 `CommunityNotFound` for a well-formed one naming no readable
/// community.
async fn requested_community(req: &XrpcRequest) -> Result<Option<String>, ApiError> {
    let body = body_object(&req.body).unwrap_or_default();
    let raw = match body.get("community") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(raw)) => raw.clone(),
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "community must be a string (a DID, handle or !name@instance), got {other}"
            )));
        }
    };
    let mut conn = req.app.conn().await?;
    match resolve_community_param(&mut conn, &raw, &req.app.instance).await? {
        Some(did) => Ok(Some(did)),
        None => Err(ApiError::not_found("CommunityNotFound", format!("community {raw:?} not found"))),
    }
}

/// The viewer's indexed block of `community`, best effort: the answer is the same error
/// with or without it, so a database problem only leaves it out (and is logged).
async fn indexed_block(req: &XrpcRequest, community: &str) -> Option<Block> {
    let viewer = req.viewer.did.as_ref()?;
    let lookup = async {
        let mut conn = req.app.conn().await.map_err(|e| e.message)?;
        viewer_blocks(&mut conn, viewer.as_str(), &[community]).await.map_err(|e| e.to_string())
    };
    match lookup.await {
        Ok(mut found) => found.remove(community),
        Err(error) => {
            tracing::warn!(%error, "viewer's block lookup failed; answering WriteDirectlyToPDS without it");
            None
        }
    }
}
