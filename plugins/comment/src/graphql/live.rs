//! Live counts of posts and comments: `Subscription.postStats(uri:)` and
//! `Subscription.commentStats(uri:)` (votes from the vote plugin, comment counts from this
//! one), pushed when the ingest announces the subject changed.

use std::collections::HashMap;

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dynamic::TypeRef;
use coves_plugin_api::diesel::QueryResult;
use coves_plugin_api::diesel_async::AsyncPgConnection;
use coves_plugin_api::live::graphql::{live_field, live_subscription, register_live_type};
use coves_plugin_api::live::{LiveKind, LiveValue};
use coves_plugin_api::syntax::AtUri;
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError};
use coves_plugin_post::POST_COLLECTION;
use coves_plugin_vote::service::vote_counts;
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::COMMENT_COLLECTION;
use crate::service::comment_counts;
use crate::thread::find_comments;

const POST_STATS: &str = "PostStats";
/// Reads one counter of [`Stats`] as a GraphQL value.
type ReadStat = fn(&Stats) -> Value;
const COMMENT_STATS: &str = "CommentStats";

/// A post's or a comment's counters.
#[derive(Clone, Debug, Default)]
struct Stats {
    uri: String,
    upvotes: i32,
    downvotes: i32,
    /// Direct replies (a post's `commentCount`, a comment's `replyCount`).
    replies: i32,
    /// The whole thread under a post.
    thread: i32,
}

static POST_KIND: LiveKind = LiveKind { name: "postStats", load: |conn, uris| load_posts(conn, uris).boxed() };
static COMMENT_KIND: LiveKind = LiveKind { name: "commentStats", load: |conn, uris| load_comments(conn, uris).boxed() };

async fn load_posts(conn: &mut AsyncPgConnection, uris: &[String]) -> QueryResult<HashMap<String, LiveValue>> {
    let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
    let existing = coves_plugin_post::service::readable_post_uris(conn, &uris).await?;
    counts(conn, existing).await
}

async fn load_comments(conn: &mut AsyncPgConnection, uris: &[String]) -> QueryResult<HashMap<String, LiveValue>> {
    let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
    let live = find_comments(conn, &uris).await?.into_iter().filter(|c| !c.deleted).map(|c| c.uri).collect();
    counts(conn, live).await
}

/// The counters of subjects known to exist.
async fn counts(conn: &mut AsyncPgConnection, subjects: Vec<String>) -> QueryResult<HashMap<String, LiveValue>> {
    let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
    let votes = vote_counts(conn, &refs).await?;
    let comments = comment_counts(conn, &refs).await?;
    Ok(subjects
        .into_iter()
        .map(|uri| {
            let v = votes.get(&uri).copied().unwrap_or_default();
            let c = comments.get(&uri).copied().unwrap_or_default();
            let stats = Stats {
                uri: uri.clone(),
                upvotes: v.upvotes,
                downvotes: v.downvotes,
                replies: c.reply_count,
                thread: c.thread_count,
            };
            (uri, std::sync::Arc::new(stats) as LiveValue)
        })
        .collect())
}

/// Checks that `raw` is an AT-URI of `collection`; subjects are announced by URI.
fn record_uri<'a>(raw: &'a str, collection: &'static str) -> BoxFuture<'a, Result<String, ApiError>> {
    let checked = match raw.trim().parse::<AtUri>() {
        Ok(uri) if uri.collection() == Some(collection) && uri.authority().starts_with("did:") => Ok(uri.to_string()),
        Ok(_) => Err(ApiError::invalid_request(format!(
            "{raw:?} is not the URI of a {collection} record with a DID authority (at://did:.../{collection}/<rkey>)"
        ))),
        Err(error) => Err(ApiError::invalid_request(format!("uri {raw:?} is not an AT-URI: {error}"))),
    };
    futures::future::ready(checked).boxed()
}

fn post_uri<'a>(_: &'a AppContext, raw: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
    record_uri(raw, POST_COLLECTION)
}

fn comment_uri<'a>(_: &'a AppContext, raw: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
    record_uri(raw, COMMENT_COLLECTION)
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    register_live_type(registrar, POST_STATS, "A post's counters, live.")?;
    register_live_type(registrar, COMMENT_STATS, "A comment's counters, live.")?;
    let common: [(&str, &str, ReadStat); 3] = [
        ("upvotes", "Effective upvotes.", |s| Value::from(s.upvotes)),
        ("downvotes", "Effective downvotes.", |s| Value::from(s.downvotes)),
        ("score", "upvotes − downvotes.", |s| Value::from(s.upvotes - s.downvotes)),
    ];
    for type_name in [POST_STATS, COMMENT_STATS] {
        registrar.add_field(
            type_name,
            "uri",
            live_field::<Stats>("uri", TypeRef::named_nn(TypeRef::STRING), "The record's AT-URI.", |s| {
                Value::from(s.uri.as_str())
            }),
        )?;
        for (name, description, read) in common {
            registrar.add_field(
                type_name,
                name,
                live_field::<Stats>(name, TypeRef::named_nn(TypeRef::INT), description, read),
            )?;
        }
    }
    registrar.add_field(
        POST_STATS,
        "commentCount",
        live_field::<Stats>("commentCount", TypeRef::named_nn(TypeRef::INT), "Live top-level comments.", |s| {
            Value::from(s.replies)
        }),
    )?;
    registrar.add_field(
        POST_STATS,
        "totalCommentCount",
        live_field::<Stats>(
            "totalCommentCount",
            TypeRef::named_nn(TypeRef::INT),
            "Live comments in the whole thread.",
            |s| Value::from(s.thread),
        ),
    )?;
    registrar.add_field(
        COMMENT_STATS,
        "replyCount",
        live_field::<Stats>("replyCount", TypeRef::named_nn(TypeRef::INT), "Live direct replies.", |s| {
            Value::from(s.replies)
        }),
    )?;
    registrar.add_subscription_field(
        "postStats",
        live_subscription(
            "postStats",
            POST_STATS,
            &POST_KIND,
            ("uri", "The post's AT-URI."),
            post_uri,
            "A post's votes and comment counts: the current value, then each change (gathered over the coalescing \
             window). Ends with NotFound for a post that is not readable.",
        ),
    )?;
    registrar.add_subscription_field(
        "commentStats",
        live_subscription(
            "commentStats",
            COMMENT_STATS,
            &COMMENT_KIND,
            ("uri", "The comment's AT-URI."),
            comment_uri,
            "A comment's votes and reply count: the current value, then each change. Ends with NotFound for a \
             comment that is not live.",
        ),
    )
}
