//! `social.coves.community.get`: one community as a CommunityViewDetailed.

use coves_plugin_api::identifiers::parse_community_id;
use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};

use super::views::community_view_detailed;
use crate::service::find_community;

pub async fn get_community(req: XrpcRequest) -> XrpcResult {
    let raw = req.params.required("community")?;
    let id = parse_community_id(raw, &req.app.instance.domains)?;
    let mut conn = req.app.conn().await?;
    match find_community(&mut conn, &id).await? {
        Some(community) => Ok(community_view_detailed(&community, &req.app.instance)),
        // Kelp branches on this exact name.
        None => Err(ApiError::not_found("NotFound", format!("community not found: {raw}"))),
    }
}
