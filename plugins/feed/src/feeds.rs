//! The post feeds (COVES_API §4.4–4.6), shared by GraphQL `feed` and the XRPC feed
//! methods: which posts each holds is decided here once, and the post plugin ranks and
//! pages them.
//!
//! - **community**: the community's readable posts, even when the viewer blocks it;
//! - **timeline**: the communities the viewer subscribes to, minus those they block, each
//!   weighted by its subscription's `contentVisibility` ([`crate::score_levels`]);
//! - **discover** (XRPC `getDiscover` and `getAll`): every public community, minus those
//!   the viewer blocks.
//!
//! Every feed leaves out deleted posts and posts by inactive (taken-down, deactivated,
//! deleted) accounts, as every post list does.

use std::collections::HashSet;

use coves_plugin_api::ApiError;
use coves_plugin_api::diesel_async::AsyncPgConnection;
use coves_plugin_api::ranking::PageStart;
use coves_plugin_block::blocked_communities;
use coves_plugin_post::service::{CommunityMinimum, PostFilter, PostPage, list_posts};
use coves_plugin_subscription::subscribed_communities;

use crate::score_levels::{min_score, score_levels};

/// Which feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedKind {
    /// One community's posts (a DID).
    Community(String),
    /// The viewer's subscriptions.
    Timeline,
    /// Every public community.
    Discover,
}

/// The posts `kind` holds for `viewer`; `None` when it holds none (a timeline without
/// subscriptions). The timeline needs a viewer: without one it holds nothing.
pub async fn feed_filter(
    conn: &mut AsyncPgConnection,
    kind: &FeedKind,
    viewer: Option<&str>,
) -> Result<Option<PostFilter>, ApiError> {
    let blocked = async |conn: &mut AsyncPgConnection| -> Result<Vec<String>, ApiError> {
        let Some(viewer) = viewer else { return Ok(Vec::new()) };
        Ok(blocked_communities(conn, viewer).await?.into_iter().map(|b| b.community_did).collect())
    };
    Ok(match kind {
        FeedKind::Community(did) => Some(PostFilter { community: Some(did.clone()), ..PostFilter::default() }),
        FeedKind::Discover => Some(PostFilter {
            excluded_communities: blocked(conn).await?,
            public_communities: true,
            ..PostFilter::default()
        }),
        FeedKind::Timeline => {
            let Some(viewer) = viewer else { return Ok(None) };
            let blocked: HashSet<String> = blocked(conn).await?.into_iter().collect();
            let subscriptions: Vec<_> = subscribed_communities(conn, viewer)
                .await?
                .into_iter()
                .filter(|s| !blocked.contains(&s.community_did))
                .collect();
            if subscriptions.is_empty() {
                return Ok(None);
            }
            let dids: Vec<&str> = subscriptions.iter().map(|s| s.community_did.as_str()).collect();
            let levels = score_levels(conn, &dids).await?;
            let communities = subscriptions
                .iter()
                .map(|s| CommunityMinimum {
                    did: s.community_did.clone(),
                    min_score: min_score(levels.get(&s.community_did).map(Vec::as_slice), s.content_visibility),
                })
                .collect();
            Some(PostFilter { communities: Some(communities), ..PostFilter::default() })
        }
    })
}

/// A page of `limit` posts of the feed, in `start`'s sort, after its position.
pub async fn list_feed(
    conn: &mut AsyncPgConnection,
    kind: &FeedKind,
    viewer: Option<&str>,
    start: &PageStart,
    limit: i64,
) -> Result<PostPage, ApiError> {
    match feed_filter(conn, kind, viewer).await? {
        Some(filter) => list_posts(conn, &filter, start, limit).await,
        None => Ok(PostPage::empty()),
    }
}
