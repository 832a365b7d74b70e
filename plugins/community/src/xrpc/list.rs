//! `social.coves.community.list`: pages through readable communities.

use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};
use serde_json::Value;

use super::params;
use super::views::community_page;
use crate::service::{self, CommunitySort, ListQuery};

pub async fn list_communities(req: XrpcRequest) -> XrpcResult {
    let limit = params::limit(&req.params)?;
    let sort = match req.params.get("sort").map(str::trim) {
        None | Some("") => CommunitySort::Popular,
        Some(raw) => CommunitySort::from_param(raw).ok_or_else(|| {
            ApiError::invalid_request(format!("sort {raw:?} must be {}", CommunitySort::PARAM_VALUES))
        })?,
    };
    let visibility = params::visibility(&req.params)?;
    match req.params.get("subscribed").map(str::trim) {
        None | Some("" | "false") => {}
        Some("true") => {
            req.viewer.require()?;
            // Subscriptions are indexed by the subscription plugin, which does not exist
            // yet; an empty list would claim the viewer subscribes to nothing.
            return Err(ApiError::new(
                501,
                "MethodNotImplemented",
                "subscribed=true is not available yet: this AppView does not index subscriptions so far; omit subscribed to list all communities",
            ));
        }
        Some(raw) => return Err(ApiError::invalid_request(format!("subscribed {raw:?} must be true or false"))),
    }
    let query = ListQuery { sort, visibility, search: None, limit, after: params::cursor(&req.params) };
    let mut conn = req.app.conn().await?;
    let page = service::list_communities(&mut conn, &query).await?;
    Ok(Value::Object(community_page(&page, &req.app.instance)))
}
