//! The community views (COVES_API §4.1–4.3, §5.4): the community plugin's wire shapes
//! with the viewer's subscription and block (`viewer`), and `list`'s `subscribed=true`.

pub mod get;
pub mod list;
pub mod search;

use std::collections::HashMap;

use coves_plugin_api::diesel_async::AsyncPgConnection;
use coves_plugin_api::{ApiError, XrpcRequest};
use coves_plugin_block::{Block, viewer_blocks};
use coves_plugin_community::views::community_page;
use coves_plugin_community::{CommunityPage, CommunityRow};
use coves_plugin_subscription::{Subscription, viewer_subscriptions};
use serde_json::{Map, Value};

pub const GET: &str = "social.coves.community.get";
pub const LIST: &str = "social.coves.community.list";
pub const SEARCH: &str = "social.coves.community.search";

/// The viewer's subscriptions and blocks among a page of communities.
pub struct ViewerStates {
    viewer: String,
    subscriptions: HashMap<String, Subscription>,
    blocks: HashMap<String, Block>,
}

impl ViewerStates {
    /// Reads them for `viewer` (none for an anonymous request).
    pub async fn read(
        conn: &mut AsyncPgConnection,
        viewer: Option<&str>,
        communities: &[&CommunityRow],
    ) -> Result<Option<Self>, ApiError> {
        let Some(viewer) = viewer else { return Ok(None) };
        let dids: Vec<&str> = communities.iter().map(|c| c.did.as_str()).collect();
        let subscriptions = viewer_subscriptions(conn, viewer, &dids).await?;
        let blocks = viewer_blocks(conn, viewer, &dids).await?;
        Ok(Some(Self { viewer: viewer.to_owned(), subscriptions, blocks }))
    }

    /// `{subscribed, subscriptionUri?, contentVisibility?, blocked, blockUri?}`.
    pub fn view(&self, community: &CommunityRow) -> Value {
        let mut view = Map::new();
        let subscription = self.subscriptions.get(&community.did);
        view.insert("subscribed".into(), subscription.is_some().into());
        if let Some(subscription) = subscription {
            view.insert("subscriptionUri".into(), subscription.uri(&self.viewer).into());
            view.insert("contentVisibility".into(), subscription.content_visibility.into());
        }
        let block = self.blocks.get(&community.did);
        view.insert("blocked".into(), block.is_some().into());
        if let Some(block) = block {
            view.insert("blockUri".into(), block.uri(&self.viewer).into());
        }
        Value::Object(view)
    }
}

/// `{"communities": [CommunityView], "cursor"?}` with each view's `viewer` state.
pub async fn page_answer(
    conn: &mut AsyncPgConnection,
    req: &XrpcRequest,
    page: &CommunityPage,
) -> Result<Map<String, Value>, ApiError> {
    let communities: Vec<&CommunityRow> = page.items.iter().map(|i| &i.item).collect();
    let viewer = req.viewer.did.as_ref().map(|d| d.as_str());
    let states = ViewerStates::read(conn, viewer, &communities).await?;
    Ok(community_page(page, &req.app.instance, |c| states.as_ref().map(|s| s.view(c))))
}
