//! XRPC methods of the community plugin (COVES_API §4.1–4.3).

mod get;
mod list;
mod params;
mod search;
mod views;

use coves_plugin_api::XrpcMethod;

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        XrpcMethod::query("social.coves.community.get", |req| Box::pin(get::get_community(req))),
        XrpcMethod::query("social.coves.community.list", |req| Box::pin(list::list_communities(req))),
        XrpcMethod::query("social.coves.community.search", |req| Box::pin(search::search_communities(req))),
    ]
}
