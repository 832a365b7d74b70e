//! `social.coves.community.list`: pages through readable communities, or the viewer's
//! subscriptions (`subscribed=true`).

use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};
use coves_plugin_community::params;
use coves_plugin_community::{CommunitySort, ListQuery, list_communities as list};
use coves_plugin_subscription::subscribed_communities;
use serde_json::Value;

use super::page_answer;

pub async fn list_communities(req: XrpcRequest) -> XrpcResult {
    let limit = params::limit(&req.params)?;
    let sort = match req.params.get("sort").map(str::trim) {
        None | Some("") => CommunitySort::Popular,
        Some(raw) => CommunitySort::from_param(raw).ok_or_else(|| {
            ApiError::invalid_request(format!("sort {raw:?} must be {}", CommunitySort::PARAM_VALUES))
        })?,
    };
    let visibility = params::visibility(&req.params)?;
    let subscribed_only = match req.params.get("subscribed").map(str::trim) {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(raw) => return Err(ApiError::invalid_request(format!("subscribed {raw:?} must be true or false"))),
    };
    let viewer = if subscribed_only {
        Some(req.viewer.require()?.as_str())
    } else {
        req.viewer.did.as_ref().map(|d| d.as_str())
    };
    let mut conn = req.app.conn().await?;
    let subscribed: Option<Vec<String>> = match (subscribed_only, viewer) {
        (true, Some(viewer)) => {
            Some(subscribed_communities(&mut conn, viewer).await?.into_iter().map(|s| s.community_did).collect())
        }
        _ => None,
    };
    let query = ListQuery {
        sort,
        visibility,
        search: None,
        only: subscribed.as_deref(),
        limit,
        after: params::cursor(&req.params),
    };
    let page = list(&mut conn, &query).await?;
    Ok(Value::Object(page_answer(&mut conn, &req, &page).await?))
}
