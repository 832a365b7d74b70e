//! XRPC read methods of the joined views (COVES_API §4.7, §4.10).

mod get_posts;
mod post_get;

use coves_plugin_api::XrpcMethod;

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        XrpcMethod::query(post_get::NSID, |req| Box::pin(post_get::get_posts_by_uri(req))),
        XrpcMethod::query(get_posts::NSID, |req| Box::pin(get_posts::get_actor_posts(req))),
    ]
}
