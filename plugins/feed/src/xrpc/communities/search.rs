//! `social.coves.community.search`: readable communities matching a text, best first.

use coves_plugin_api::{XrpcRequest, XrpcResult};
use coves_plugin_community::params;
use coves_plugin_community::{CommunitySort, ListQuery, count_communities, list_communities};
use serde_json::Value;

use super::page_answer;

pub async fn search_communities(req: XrpcRequest) -> XrpcResult {
    let q = req.params.required("q")?;
    let limit = params::limit(&req.params)?;
    let visibility = params::visibility(&req.params)?;
    let query = ListQuery {
        sort: CommunitySort::Relevance,
        visibility,
        search: Some(q),
        only: None,
        limit,
        after: params::cursor(&req.params),
    };
    let mut conn = req.app.conn().await?;
    let page = list_communities(&mut conn, &query).await?;
    let total = count_communities(&mut conn, Some(q), visibility).await?;
    let mut body = page_answer(&mut conn, &req, &page).await?;
    body.insert("total".into(), total.into());
    Ok(Value::Object(body))
}
