//! XRPC methods of the actor plugin.

mod get_profile;

use coves_plugin_api::XrpcMethod;

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        XrpcMethod::query("social.coves.actor.getProfile", |req| Box::pin(get_profile::get_profile(req))),
        // The Go AppView served the lowercase name; existing clients may still call it.
        XrpcMethod::query("social.coves.actor.getprofile", |req| Box::pin(get_profile::get_profile(req))),
    ]
}
