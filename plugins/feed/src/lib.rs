//! The `feed` plugin: the XRPC views that join several plugins' tables (COVES_API §4.7,
//! §4.8, §4.10, §4.11, §5): `PostView` with its author, community, vote and comment
//! counts and the viewer's vote; comment threads. Each view reads every joined table once
//! per page, whatever the page size.
//!
//! It owns no records and no tables: it only reads what the `post`, `comment`, `vote`,
//! `actor` and `community` plugins index.

mod views;
mod xrpc;

use coves_plugin_api::{Plugin, XrpcMethod, async_trait};

/// Serves the joined XRPC views.
pub struct FeedPlugin;

#[async_trait]
impl Plugin for FeedPlugin {
    fn name(&self) -> &'static str {
        "feed"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["actor", "comment", "community", "post", "vote"]
    }

    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        xrpc::methods()
    }
}

coves_plugin_api::register_plugin!(FeedPlugin);
