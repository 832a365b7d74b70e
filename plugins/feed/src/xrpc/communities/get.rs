//! `social.coves.community.get`: one community as a CommunityViewDetailed, with the
//! viewer's subscription and block.

use coves_plugin_api::identifiers::parse_community_id;
use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};
use coves_plugin_community::find_community;
use coves_plugin_community::views::community_view_detailed;
use serde_json::Value;

use super::ViewerStates;

pub async fn get_community(req: XrpcRequest) -> XrpcResult {
    let raw = req.params.required("community")?;
    let id = parse_community_id(raw, &req.app.instance.domains)?;
    let mut conn = req.app.conn().await?;
    // Kelp branches on this exact name.
    let community = find_community(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("NotFound", format!("community not found: {raw}")))?;
    let mut view = community_view_detailed(&community, &req.app.instance);
    let viewer = req.viewer.did.as_ref().map(|d| d.as_str());
    if let Some(states) = ViewerStates::read(&mut conn, viewer, &[&community]).await? {
        view.insert("viewer".into(), states.view(&community));
    }
    Ok(Value::Object(view))
}
