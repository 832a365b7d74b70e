//! XRPC methods of the block plugin: the write procedures, which answer
//! `WriteDirectlyToPDS` (COVES_API §1.3): blocks are written by clients to their own PDS.

mod block_community;
mod unblock_community;

use coves_plugin_api::write_directly::{self, body_object};
use coves_plugin_api::{ApiError, XrpcMethod, XrpcRequest};
use coves_plugin_community::params::body_community;

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
/// is not a JSON object: the answer is then a template).
async fn requested_community(req: &XrpcRequest) -> Result<Option<String>, ApiError> {
    body_community(&req.app, &body_object(&req.body).unwrap_or_default()).await
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
