//! The feed methods (COVES_API §4.4–4.6): `communityFeed.getCommunity` (= the lexicon's
//! `feed.getCommunity`), `feed.getTimeline`, `feed.getDiscover` and `feed.getAll`.

use coves_plugin_api::diesel_async::AsyncPgConnection;
use coves_plugin_api::ranking::{Sort, Timeframe};
use coves_plugin_api::{ApiError, QueryParams, XrpcRequest, XrpcResult};
use coves_plugin_post::service::page_start;

use super::params::{community_param, cursor_param};
use crate::feeds::{FeedKind, list_feed};
use crate::views::feed_answer;

/// The route clients call for a community's feed.
pub const COMMUNITY_FEED: &str = "social.coves.communityFeed.getCommunity";
/// The lexicon's name for the same feed.
pub const FEED_COMMUNITY: &str = "social.coves.feed.getCommunity";
pub const TIMELINE: &str = "social.coves.feed.getTimeline";
pub const DISCOVER: &str = "social.coves.feed.getDiscover";
/// The lexicon's name for the discover feed (`postType`/`postTypes` ignored for now).
pub const ALL: &str = "social.coves.feed.getAll";

const DEFAULT_LIMIT: i64 = 15;
const MAX_LIMIT: i64 = 50;

/// `limit`: 15 when absent, not an integer or ≤ 0 (Go-compatible); more than 50 → 400.
fn limit(params: &QueryParams) -> Result<i64, ApiError> {
    match params.get("limit").map(str::trim).and_then(|raw| raw.parse::<i64>().ok()) {
        Some(n) if n > MAX_LIMIT => {
            Err(ApiError::invalid_request(format!("limit must not exceed {MAX_LIMIT} (got {n})")))
        }
        Some(n) if n > 0 => Ok(n),
        _ => Ok(DEFAULT_LIMIT),
    }
}

/// `sort` (hot when absent) and `timeframe` (day when absent; checked even when the sort
/// does not use it).
fn sort(params: &QueryParams) -> Result<Sort, ApiError> {
    let sort = params.get("sort").map(str::trim).filter(|s| !s.is_empty()).unwrap_or("hot");
    let timeframe = params.get("timeframe").map(str::trim).filter(|t| !t.is_empty());
    Sort::from_params(sort, timeframe, Timeframe::Day)
}

/// Answers a page of `kind`: the page parameters are checked before `kind` is resolved.
async fn serve(
    req: XrpcRequest,
    kind: impl AsyncFnOnce(&XrpcRequest, &mut AsyncPgConnection) -> Result<FeedKind, ApiError>,
) -> XrpcResult {
    let limit = limit(&req.params)?;
    let start = page_start(sort(&req.params)?, cursor_param(&req.params))?;
    let mut conn = req.app.conn().await?;
    let kind = kind(&req, &mut conn).await?;
    let viewer = req.viewer.did.as_ref().map(|d| d.as_str());
    let page = list_feed(&mut conn, &kind, viewer, &start, limit).await?;
    feed_answer(&mut conn, &req.app, viewer, &page).await
}

/// A community's posts (even when the viewer blocks it); auth optional; 404
/// `CommunityNotFound` for an unknown community.
pub async fn get_community(req: XrpcRequest) -> XrpcResult {
    req.params.required("community")?;
    serve(req, async |req, conn| {
        let did = community_param(req, conn).await?;
        did.map(FeedKind::Community).ok_or_else(|| ApiError::invalid_request("community parameter is required"))
    })
    .await
}

/// The viewer's subscriptions; auth required.
pub async fn get_timeline(req: XrpcRequest) -> XrpcResult {
    req.viewer.require()?;
    serve(req, async |_, _| Ok(FeedKind::Timeline)).await
}

/// Every public community; auth optional.
pub async fn get_discover(req: XrpcRequest) -> XrpcResult {
    serve(req, async |_, _| Ok(FeedKind::Discover)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn limits_follow_the_go_appview() {
        assert_eq!(limit(&params(&[])).expect("default"), 15);
        assert_eq!(limit(&params(&[("limit", "20")])).expect("kelp"), 20);
        assert_eq!(limit(&params(&[("limit", "0")])).expect("≤ 0"), 15);
        assert_eq!(limit(&params(&[("limit", "-4")])).expect("≤ 0"), 15);
        assert_eq!(limit(&params(&[("limit", "ten")])).expect("not an integer"), 15);
        assert_eq!(limit(&params(&[("limit", "50")])).expect("max"), 50);
        let error = limit(&params(&[("limit", "51")])).expect_err("too many");
        assert_eq!((error.status, error.name.as_ref()), (400, "InvalidRequest"));
        assert!(error.message.contains("must not exceed 50"), "{}", error.message);
    }

    #[test]
    fn sorts_and_timeframes() {
        assert_eq!(sort(&params(&[])).expect("default"), Sort::Hot);
        assert_eq!(sort(&params(&[("sort", "top")])).expect("top"), Sort::Top(Timeframe::Day));
        assert_eq!(sort(&params(&[("sort", "top"), ("timeframe", "week")])).expect("top"), Sort::Top(Timeframe::Week));
        assert_eq!(sort(&params(&[("sort", "new"), ("timeframe", "all")])).expect("new"), Sort::New);
        assert_eq!(sort(&params(&[("sort", "best")])).expect_err("unknown").name, "InvalidRequest");
        assert_eq!(sort(&params(&[("timeframe", "decade")])).expect_err("validated").name, "InvalidRequest");
    }
}
