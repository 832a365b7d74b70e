//! XRPC read methods of the joined views (COVES_API §4.1–4.8, §4.10, §4.11).

mod actor_comments;
mod communities;
mod feeds;
mod get_comments;
mod get_posts;
mod params;
mod post_get;

use coves_plugin_api::XrpcMethod;

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        XrpcMethod::query(communities::GET, |req| Box::pin(communities::get::get_community(req))),
        XrpcMethod::query(communities::LIST, |req| Box::pin(communities::list::list_communities(req))),
        XrpcMethod::query(communities::SEARCH, |req| Box::pin(communities::search::search_communities(req))),
        XrpcMethod::query(post_get::NSID, |req| Box::pin(post_get::get_posts_by_uri(req))),
        XrpcMethod::query(get_posts::NSID, |req| Box::pin(get_posts::get_actor_posts(req))),
        XrpcMethod::query(get_comments::NSID, |req| Box::pin(get_comments::get_comments(req))),
        XrpcMethod::query(actor_comments::NSID, |req| Box::pin(actor_comments::get_actor_comments(req))),
        XrpcMethod::query(feeds::COMMUNITY_FEED, |req| Box::pin(feeds::get_community(req))),
        XrpcMethod::query(feeds::FEED_COMMUNITY, |req| Box::pin(feeds::get_community(req))),
        XrpcMethod::query(feeds::TIMELINE, |req| Box::pin(feeds::get_timeline(req))),
        XrpcMethod::query(feeds::DISCOVER, |req| Box::pin(feeds::get_discover(req))),
        XrpcMethod::query(feeds::ALL, |req| Box::pin(feeds::get_discover(req))),
    ]
}
