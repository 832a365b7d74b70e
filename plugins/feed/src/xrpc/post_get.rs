//! `social.coves.community.post.get`: posts by URI (COVES_API §4.7). Exactly one element
//! per requested URI, in request order: a PostView or a `notFoundPost` (Kelp polls while
//! a new post is not indexed yet, and fails on an empty array).

use coves_plugin_api::syntax::AtUri;
use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};
use coves_plugin_post::service::find_posts;
use serde_json::{Value, json};

use crate::views::post_views;

pub const NSID: &str = "social.coves.community.post.get";

/// Most URIs one request may ask for.
const MAX_URIS: usize = 25;

pub async fn get_posts_by_uri(req: XrpcRequest) -> XrpcResult {
    let uris: Vec<&str> = req.params.all("uris").map(str::trim).filter(|u| !u.is_empty()).collect();
    if uris.is_empty() {
        return Err(ApiError::invalid_request("uris parameter is required: 1 to 25 AT-URIs of posts (repeat the key)"));
    }
    if uris.len() > MAX_URIS {
        return Err(ApiError::invalid_request(format!("at most {MAX_URIS} uris per request (got {})", uris.len())));
    }
    for uri in &uris {
        AtUri::new(*uri).map_err(|e| ApiError::invalid_request(format!("uris: {uri:?} is not an AT-URI ({e})")))?;
    }
    let mut conn = req.app.conn().await?;
    let posts = find_posts(&mut conn, &uris).await?;
    let viewer = req.viewer.did.as_ref().map(|d| d.as_str());
    let mut views: std::collections::HashMap<String, Value> =
        post_views(&mut conn, &req.app, viewer, &posts).await?.into_iter().collect();
    let posts: Vec<Value> = uris
        .iter()
        .map(|uri| {
            views.remove(*uri).unwrap_or_else(
                || json!({"$type": "social.coves.community.post.get#notFoundPost", "uri": uri, "notFound": true}),
            )
        })
        .collect();
    Ok(json!({ "posts": posts }))
}
