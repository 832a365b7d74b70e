//! `social.coves.community.search`: readable communities matching a text, best first.

use coves_plugin_api::{XrpcRequest, XrpcResult};
use serde_json::Value;

use super::params;
use super::views::community_page;
use crate::service::{self, CommunitySort, ListQuery};

pub async fn search_communities(req: XrpcRequest) -> XrpcResult {
    let q = req.params.required("q")?;
    let limit = params::limit(&req.params)?;
    let visibility = params::visibility(&req.params)?;
    let query = ListQuery {
        sort: CommunitySort::Relevance,
        visibility,
        search: Some(q),
        limit,
        after: params::cursor(&req.params),
    };
    let mut conn = req.app.conn().await?;
    let page = service::list_communities(&mut conn, &query).await?;
    let total = service::count_communities(&mut conn, Some(q), visibility).await?;
    let mut body = community_page(&page, &req.app.instance);
    body.insert("total".into(), total.into());
    Ok(Value::Object(body))
}
