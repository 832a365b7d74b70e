//! `social.coves.actor.getComments`: an actor's live comments, newest first, flat
//! (COVES_API §4.11).

use coves_plugin_api::ranking::Sort;
use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};
use coves_plugin_comment::thread::{CommentFilter, list_comments, page_start};
use serde_json::{Map, Value};

use super::params::{actor_param, community_param, cursor_param};
use crate::views::{Joined, comment_view};

pub const NSID: &str = "social.coves.actor.getComments";

/// `limit`: 50 when absent, clamped to 1..=100; not an integer → 400.
fn limit(raw: Option<&str>) -> Result<i64, ApiError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(50),
        Some(raw) => raw
            .parse::<i64>()
            .map(|n| n.clamp(1, 100))
            .map_err(|_| ApiError::invalid_request(format!("limit {raw:?} must be an integer (1 to 100)"))),
    }
}

pub async fn get_actor_comments(req: XrpcRequest) -> XrpcResult {
    let limit = limit(req.params.get("limit"))?;
    let start = page_start(Sort::New, cursor_param(&req.params))?;
    let mut conn = req.app.conn().await?;
    let author = actor_param(&req, &mut conn).await?;
    let community = community_param(&req, &mut conn).await?;
    let page = list_comments(&mut conn, &CommentFilter::ByAuthor { author, community }, &start, limit).await?;

    let subjects: Vec<&str> = page.items.iter().map(|i| i.item.uri.as_str()).collect();
    let actors: Vec<String> = page.items.iter().map(|i| i.item.commenter_did.clone()).collect();
    let viewer = req.viewer.did.as_ref().map(|d| d.as_str());
    let joined = Joined::read(&mut conn, viewer, &subjects, &actors, &[]).await?;
    let mut answer = Map::new();
    answer.insert(
        "comments".into(),
        page.items.iter().map(|i| comment_view(&req.app, viewer, &i.item, &joined)).collect(),
    );
    if let Some(cursor) = page.next_cursor() {
        answer.insert("cursor".into(), cursor.into());
    }
    Ok(Value::Object(answer))
}
