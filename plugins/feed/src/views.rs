//! `PostView` and `CommentView` (COVES_API §5.1, §5.3), built for a page with one read per
//! joined table.

use std::collections::HashMap;

use coves_plugin_actor::{ActorRow, find_actors_by_did};
use coves_plugin_api::diesel_async::AsyncPgConnection;
use coves_plugin_api::images::ImagePreset;
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::views::{BlobOwner, embed_view};
use coves_plugin_api::{ApiError, AppContext};
use coves_plugin_comment::service::{CommentCounts, comment_counts};
use coves_plugin_comment::thread::CommentRow;
use coves_plugin_community::{CommunityRow, find_communities};
use coves_plugin_post::service::{PostPage, PostRow};
use coves_plugin_subscription::{Subscription, viewer_subscriptions};
use coves_plugin_vote::service::{EffectiveVote, VoteCounts, effective_votes, vote_counts};
use serde_json::{Map, Value, json};

/// `{did, handle, displayName?, avatar?}`: the handle falls back to the DID (COVES_API
/// §5.1: clients link `/profile/<DID>`); `None` gives `{did, handle: did}`.
pub fn author_view(app: &AppContext, did: &str, actor: Option<&ActorRow>) -> Value {
    let mut view = Map::new();
    view.insert("did".into(), did.into());
    view.insert("handle".into(), actor.map_or(did, ActorRow::handle_or_did).into());
    if let Some(actor) = actor {
        if let Some(name) = &actor.display_name {
            view.insert("displayName".into(), name.clone().into());
        }
        if let Some(avatar) = actor.avatar_url(app, ImagePreset::AvatarSmall) {
            view.insert("avatar".into(), avatar.into());
        }
    }
    Value::Object(view)
}

/// `{did, handle?, name, displayName?, avatar?, viewer?: {subscribed}}` of a post's
/// community; `subscribed` is `None` for anonymous requests.
fn community_ref(app: &AppContext, community: &CommunityRow, subscribed: Option<bool>) -> Value {
    let mut view = Map::new();
    view.insert("did".into(), community.did.clone().into());
    view.insert("handle".into(), community.handle.clone().into());
    view.insert("name".into(), community.name.clone().into());
    if let Some(name) = &community.display_name {
        view.insert("displayName".into(), name.clone().into());
    }
    if let Some(avatar) = community.avatar_url(&app.instance, ImagePreset::AvatarSmall) {
        view.insert("avatar".into(), avatar.into());
    }
    if let Some(subscribed) = subscribed {
        view.insert("viewer".into(), json!({ "subscribed": subscribed }));
    }
    Value::Object(view)
}

/// `viewer` of a post or comment view: `{vote?, voteUri?}` (+ `saved: false` on posts).
pub fn viewer_view(viewer: &str, vote: Option<&EffectiveVote>) -> Map<String, Value> {
    let mut view = Map::new();
    if let Some(vote) = vote {
        view.insert("vote".into(), vote.direction_name().into());
        view.insert("voteUri".into(), vote.uri(viewer).into());
    }
    view
}

/// Everything the views of a set of posts and comments join, read once per table.
pub struct Joined {
    pub actors: HashMap<String, ActorRow>,
    pub communities: HashMap<String, CommunityRow>,
    pub votes: HashMap<String, VoteCounts>,
    pub comments: HashMap<String, CommentCounts>,
    /// The viewer's effective votes by subject URI.
    pub viewer_votes: HashMap<String, EffectiveVote>,
    /// The viewer's subscriptions among the communities, by DID.
    pub viewer_subscriptions: HashMap<String, Subscription>,
}

impl Joined {
    /// Reads the authors, communities, counts and viewer votes of the given subjects.
    pub async fn read(
        conn: &mut AsyncPgConnection,
        viewer: Option<&str>,
        subjects: &[&str],
        actors: &[String],
        communities: &[&str],
    ) -> Result<Self, ApiError> {
        let actors = find_actors_by_did(conn, actors).await?.into_iter().map(|a| (a.did.clone(), a)).collect();
        let communities: HashMap<String, CommunityRow> =
            find_communities(conn, communities).await?.into_iter().map(|c| (c.did.clone(), c)).collect();
        let votes = vote_counts(conn, subjects).await?;
        let comments = comment_counts(conn, subjects).await?;
        let viewer_votes = match viewer {
            Some(viewer) => {
                let pairs: Vec<(String, String)> =
                    subjects.iter().map(|s| (viewer.to_owned(), (*s).to_owned())).collect();
                effective_votes(conn, &pairs).await?.into_iter().map(|((_, subject), vote)| (subject, vote)).collect()
            }
            None => HashMap::new(),
        };
        let viewer_subscriptions = match viewer {
            Some(viewer) if !communities.is_empty() => {
                let dids: Vec<&str> = communities.keys().map(String::as_str).collect();
                viewer_subscriptions(conn, viewer, &dids).await?
            }
            _ => HashMap::new(),
        };
        Ok(Self { actors, communities, votes, comments, viewer_votes, viewer_subscriptions })
    }

    /// The vote counts of `uri` as `{upvotes, downvotes, score}`.
    pub fn vote_stats(&self, uri: &str) -> Map<String, Value> {
        let counts = self.votes.get(uri).copied().unwrap_or_default();
        let mut stats = Map::new();
        stats.insert("upvotes".into(), counts.upvotes.into());
        stats.insert("downvotes".into(), counts.downvotes.into());
        stats.insert("score".into(), counts.score().into());
        stats
    }
}

/// `{"feed": [{"post": PostView}], "cursor"?}`: a page of a post feed (COVES_API §4.4).
pub async fn feed_answer(
    conn: &mut AsyncPgConnection,
    app: &AppContext,
    viewer: Option<&str>,
    page: &PostPage,
) -> Result<Value, ApiError> {
    let posts: Vec<PostRow> = page.items.iter().map(|i| i.item.clone()).collect();
    let views = post_views(conn, app, viewer, &posts).await?;
    let mut answer = Map::new();
    answer.insert("feed".into(), views.into_iter().map(|(_, post)| json!({ "post": post })).collect());
    if let Some(cursor) = page.next_cursor() {
        answer.insert("cursor".into(), cursor.into());
    }
    Ok(Value::Object(answer))
}

/// The PostViews of `posts`, in order. A post whose community is no longer readable is
/// left out rather than served without its required `community` (§8.5).
pub async fn post_views(
    conn: &mut AsyncPgConnection,
    app: &AppContext,
    viewer: Option<&str>,
    posts: &[PostRow],
) -> Result<Vec<(String, Value)>, ApiError> {
    let subjects: Vec<&str> = posts.iter().map(|p| p.uri.as_str()).collect();
    let authors: Vec<String> = posts.iter().map(|p| p.author_did.clone()).collect();
    let communities: Vec<&str> = posts.iter().map(|p| p.community_did.as_str()).collect();
    let joined = Joined::read(conn, viewer, &subjects, &authors, &communities).await?;
    Ok(posts.iter().filter_map(|post| Some((post.uri.clone(), post_view(app, viewer, post, &joined)?))).collect())
}

/// One PostView (§5.1).
pub fn post_view(app: &AppContext, viewer: Option<&str>, post: &PostRow, joined: &Joined) -> Option<Value> {
    let community = joined.communities.get(&post.community_did)?;
    let mut stats = joined.vote_stats(&post.uri);
    let comments = joined.comments.get(&post.uri).copied().unwrap_or_default();
    stats.insert("commentCount".into(), comments.reply_count.into());
    let mut view = json!({
        "uri": post.uri,
        "cid": post.cid,
        "rkey": post.rkey,
        "author": author_view(app, &post.author_did, joined.actors.get(&post.author_did)),
        "community": community_ref(app, community, viewer.map(|_| joined.viewer_subscriptions.contains_key(&community.did))),
        "record": post.record_view(),
        "createdAt": format_datetime(&post.sort_at),
        "indexedAt": format_datetime(&post.indexed_at),
        "stats": stats,
    });
    if let Some(embed) = &post.embed {
        // A post's blobs live in its community's repo.
        let owner = BlobOwner { did: &community.did, pds: community.pds_endpoint.as_deref(), instance: &app.instance };
        view["embed"] = embed_view(embed, &owner);
    }
    if let Some(edited) = &post.edited_at {
        view["editedAt"] = format_datetime(edited).into();
    }
    if let Some(viewer) = viewer {
        let mut state = viewer_view(viewer, joined.viewer_votes.get(&post.uri));
        state.insert("saved".into(), false.into());
        view["viewer"] = Value::Object(state);
    }
    Some(view)
}

/// `{uri, cid}`.
fn strong_ref(uri: &str, cid: &str) -> Value {
    json!({"uri": uri, "cid": cid})
}

/// One CommentView (§5.3); a deleted comment becomes a placeholder: no author handle,
/// record or viewer, zero stats except `replyCount`.
pub fn comment_view(app: &AppContext, viewer: Option<&str>, comment: &CommentRow, joined: &Joined) -> Value {
    let replies = joined.comments.get(&comment.uri).copied().unwrap_or_default().reply_count;
    let mut view = json!({
        "uri": comment.uri,
        "cid": comment.cid,
        "post": strong_ref(&comment.root_uri, &comment.root_cid),
        "createdAt": format_datetime(&comment.sort_at),
        "indexedAt": format_datetime(&comment.indexed_at),
    });
    if comment.replies_to_comment() {
        view["parent"] = strong_ref(&comment.parent_uri, &comment.parent_cid);
    }
    if comment.deleted {
        view["author"] = json!({"did": comment.commenter_did, "handle": ""});
        view["record"] = Value::Null;
        view["stats"] = json!({"upvotes": 0, "downvotes": 0, "score": 0, "replyCount": replies});
        view["isDeleted"] = true.into();
        view["deletionReason"] = comment.deletion_reason.as_deref().unwrap_or("author").into();
        if let Some(at) = &comment.deleted_at {
            view["deletedAt"] = format_datetime(at).into();
        }
        return view;
    }
    let author = joined.actors.get(&comment.commenter_did);
    view["author"] = author_view(app, &comment.commenter_did, author);
    view["record"] = comment.record_view().unwrap_or(Value::Null);
    let mut stats = joined.vote_stats(&comment.uri);
    stats.insert("replyCount".into(), replies.into());
    view["stats"] = Value::Object(stats);
    if let Some(embed) = &comment.embed {
        // A comment's blobs live in its author's repo.
        let owner = BlobOwner {
            did: &comment.commenter_did,
            pds: author.and_then(|a| a.pds_endpoint.as_deref()),
            instance: &app.instance,
        };
        view["embed"] = embed_view(embed, &owner);
    }
    if let Some(viewer) = viewer {
        view["viewer"] = Value::Object(viewer_view(viewer, joined.viewer_votes.get(&comment.uri)));
    }
    view
}
