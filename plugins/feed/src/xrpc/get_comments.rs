//! `social.coves.community.comment.getComments`: a post's thread (COVES_API §4.8), a page
//! of top-level comments (or of one comment's replies, with `parentRkey`), each expanded
//! `depth` levels with at most 5 replies per parent.

use coves_plugin_api::ranking::{Sort, Timeframe};
use coves_plugin_api::syntax::AtUri;
use coves_plugin_api::{ApiError, AppContext, XrpcRequest, XrpcResult};
use coves_plugin_comment::thread::{CommentFilter, CommentRow, Tree, expand, find_anchor, list_comments, page_start};
use coves_plugin_post::service::find_thread_root;
use serde_json::{Map, Value, json};

use crate::views::{Joined, comment_view, post_view};

pub const NSID: &str = "social.coves.community.comment.getComments";

const MAX_DEPTH: i64 = 100;

/// The validated parameters.
struct Params<'a> {
    post: &'a str,
    sort: Sort,
    depth: i64,
    limit: i64,
    cursor: Option<&'a str>,
    parent_rkey: Option<&'a str>,
}

fn integer(
    raw: Option<&str>,
    name: &str,
    default: i64,
    valid: impl Fn(i64) -> bool,
    rule: &str,
) -> Result<i64, ApiError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| valid(*n))
            .ok_or_else(|| ApiError::invalid_request(format!("{name} must be {rule} (got {raw:?})"))),
    }
}

fn params(req: &XrpcRequest) -> Result<Params<'_>, ApiError> {
    let post = req.params.required("post")?;
    AtUri::new(post).map_err(|e| ApiError::invalid_request(format!("post must be the AT-URI of a post: {e}")))?;
    let sort = req.params.get("sort").map(str::trim).filter(|s| !s.is_empty()).unwrap_or("hot");
    let timeframe = req.params.get("timeframe").map(str::trim).filter(|t| !t.is_empty());
    if timeframe.is_some() && sort != "top" {
        return Err(ApiError::invalid_request("timeframe can only be used with sort=top"));
    }
    Ok(Params {
        post,
        sort: Sort::from_params(sort, timeframe, Timeframe::All)?,
        depth: integer(req.params.get("depth"), "depth", 10, |n| n >= 0, "an integer ≥ 0")?.min(MAX_DEPTH),
        limit: integer(req.params.get("limit"), "limit", 50, |n| (1..=100).contains(&n), "an integer from 1 to 100")?,
        cursor: req.params.get("cursor").map(str::trim).filter(|c| !c.is_empty()),
        parent_rkey: req.params.get("parentRkey").map(str::trim).filter(|r| !r.is_empty()),
    })
}

/// ThreadViewComment (§5.2): `replies` when some were loaded, `hasMore` when some were
/// not.
fn thread_view(tree: &Tree, app: &AppContext, viewer: Option<&str>, comment: &CommentRow, joined: &Joined) -> Value {
    let mut view = Map::new();
    view.insert("comment".into(), comment_view(app, viewer, comment, joined));
    let has_more = match tree.replies.get(&comment.uri) {
        Some(page) => {
            let replies: Vec<Value> =
                page.items.iter().map(|i| thread_view(tree, app, viewer, &i.item, joined)).collect();
            view.insert("replies".into(), replies.into());
            page.has_more
        }
        None => tree.cut_off.contains(&comment.uri),
    };
    if has_more {
        view.insert("hasMore".into(), true.into());
    }
    Value::Object(view)
}

pub async fn get_comments(req: XrpcRequest) -> XrpcResult {
    let params = params(&req)?;
    let start = page_start(params.sort, params.cursor)?;
    let mut conn = req.app.conn().await?;
    let root = find_thread_root(&mut conn, params.post)
        .await?
        .ok_or_else(|| ApiError::not_found("RootNotFound", format!("post {} not found", params.post)))?;
    let anchor = match params.parent_rkey {
        Some(rkey) => Some(find_anchor(&mut conn, params.post, rkey).await?.ok_or_else(|| {
            ApiError::not_found(
                "ParentNotFound",
                format!("no comment with rkey {rkey} in the thread of {}", params.post),
            )
        })?),
        None => None,
    };
    let filter = match &anchor {
        Some(anchor) => CommentFilter::Replies { parent: anchor.uri.clone() },
        None => CommentFilter::TopLevel { root: params.post.to_owned() },
    };
    let page = list_comments(&mut conn, &filter, &start, params.limit).await?;
    let top: Vec<&CommentRow> = page.items.iter().map(|i| &i.item).collect();
    // Under an anchor the page is already one level down.
    let depth = if anchor.is_some() { params.depth - 1 } else { params.depth }.max(0);
    let tree = expand(&mut conn, &top, &start, depth).await?;

    let mut comments: Vec<&CommentRow> = top.iter().copied().chain(tree.comments()).collect();
    comments.extend(anchor.as_ref());
    let mut subjects: Vec<&str> = comments.iter().map(|c| c.uri.as_str()).collect();
    subjects.push(&root.post.uri);
    let mut actors: Vec<String> = comments.iter().map(|c| c.commenter_did.clone()).collect();
    actors.push(root.post.author_did.clone());
    let viewer = req.viewer.did.as_ref().map(|d| d.as_str());
    let joined = Joined::read(&mut conn, viewer, &subjects, &actors, &[root.post.community_did.as_str()]).await?;

    let Some(mut post) = post_view(&req.app, viewer, &root.post, &joined) else {
        return Err(ApiError::not_found("RootNotFound", format!("post {} not found", params.post)));
    };
    if root.deleted {
        post["isDeleted"] = true.into();
        post["deletionReason"] = "author".into();
    }
    let threads: Vec<Value> = top.iter().map(|c| thread_view(&tree, &req.app, viewer, c, &joined)).collect();
    let comments = match &anchor {
        Some(anchor) => {
            let mut view = json!({"comment": comment_view(&req.app, viewer, anchor, &joined)});
            if !threads.is_empty() {
                view["replies"] = threads.into();
            }
            if page.has_more {
                view["hasMore"] = true.into();
            }
            vec![view]
        }
        None => threads,
    };
    let mut answer = Map::new();
    answer.insert("post".into(), post);
    answer.insert("comments".into(), comments.into());
    if let Some(cursor) = page.next_cursor() {
        answer.insert("cursor".into(), cursor.into());
    }
    Ok(Value::Object(answer))
}
