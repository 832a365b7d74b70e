//! XRPC read methods of the joined views (COVES_API §4.7, §4.8, §4.10, §4.11).

mod actor_comments;
mod get_comments;
mod get_posts;
mod params;
mod post_get;

use coves_plugin_api::XrpcMethod;

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        XrpcMethod::query(post_get::NSID, |req| Box::pin(post_get::get_posts_by_uri(req))),
        XrpcMethod::query(get_posts::NSID, |req| Box::pin(get_posts::get_actor_posts(req))),
        XrpcMethod::query(get_comments::NSID, |req| Box::pin(get_comments::get_comments(req))),
        XrpcMethod::query(actor_comments::NSID, |req| Box::pin(actor_comments::get_actor_comments(req))),
    ]
}
