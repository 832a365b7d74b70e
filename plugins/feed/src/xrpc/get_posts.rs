//! `social.coves.actor.getPosts`: an actor's live posts, newest first (COVES_API §4.10).

use coves_plugin_api::ranking::Sort;
use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};
use coves_plugin_post::service::{PostFilter, list_posts, page_start};

use super::params::{actor_param, community_param, cursor_param};
use crate::views::feed_answer;

pub const NSID: &str = "social.coves.actor.getPosts";

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 100;

/// `limit`: 50 when absent or ≤ 0, at most 100; not an integer → 400.
fn limit(raw: Option<&str>) -> Result<i64, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n <= 0 => Ok(DEFAULT_LIMIT),
            Ok(n) => Ok(n.min(MAX_LIMIT)),
            Err(_) => Err(ApiError::invalid_request(format!("limit {raw:?} must be an integer (1 to {MAX_LIMIT})"))),
        },
    }
}

pub async fn get_actor_posts(req: XrpcRequest) -> XrpcResult {
    let with_embed = match req.params.get("filter").map(str::trim) {
        None | Some("" | "posts_with_replies" | "posts_no_replies") => false,
        Some("posts_with_media") => true,
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "filter {other:?} must be posts_with_replies, posts_no_replies or posts_with_media"
            )));
        }
    };
    let limit = limit(req.params.get("limit"))?;
    let start = page_start(Sort::New, cursor_param(&req.params))?;
    let mut conn = req.app.conn().await?;
    let did = actor_param(&req, &mut conn).await?;
    let community = community_param(&req, &mut conn).await?;
    let filter = PostFilter { community, author: Some(did), with_embed, ..PostFilter::default() };
    let page = list_posts(&mut conn, &filter, &start, limit).await?;
    feed_answer(&mut conn, &req.app, req.viewer.did.as_ref().map(|d| d.as_str()), &page).await
}
