//! The comment counters on posts (`commentCount`, `totalCommentCount`) and comments
//! (`replyCount`, `totalReplyCount`), read through one loader per page.

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, ResolverContext, TypeRef};
use coves_plugin_api::graphql::{Prefetch, RecordNode, parent_record};
use coves_plugin_api::loader::{LoadError, Loaded, load_error, load_one, register_loader};
use coves_plugin_api::{AppContext, Registrar, RegistrarError};
use coves_plugin_post::graphql::POST;

use super::COMMENT;
use crate::service::{CommentCounts, comment_counts};
use crate::thread::descendant_counts;

/// Comment counters by subject URI.
struct CountsLoader(AppContext);

impl Loader<String> for CountsLoader {
    type Value = CommentCounts;
    type Error = LoadError;

    async fn load(&self, subjects: &[String]) -> Loaded<String, CommentCounts> {
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
        comment_counts(&mut conn, &subjects).await.map_err(load_error)
    }
}

/// Live comments below a comment, by comment URI.
struct DescendantsLoader(AppContext);

impl Loader<String> for DescendantsLoader {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, uris: &[String]) -> Loaded<String, i64> {
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
        descendant_counts(&mut conn, &uris).await.map_err(load_error)
    }
}

/// A record's counters, loaded once for all its counter fields.
async fn counts(
    ctx: &ResolverContext<'_>,
    record: &RecordNode,
) -> coves_plugin_api::async_graphql::Result<CommentCounts> {
    record
        .memo(|| async { Ok(load_one::<_, CountsLoader>(ctx, record.uri().to_owned()).await?.unwrap_or_default()) })
        .await
}

/// Live comments in a comment's subtree.
#[derive(Clone, Copy)]
struct Descendants(i64);

async fn descendants(ctx: &ResolverContext<'_>, record: &RecordNode) -> coves_plugin_api::async_graphql::Result<i64> {
    let load = || async {
        Ok(Descendants(load_one::<_, DescendantsLoader>(ctx, record.uri().to_owned()).await?.unwrap_or_default()))
    };
    Ok(record.memo(load).await?.0)
}

type Getter = fn(&CommentCounts) -> i32;

fn counter(name: &str, get: Getter) -> Field {
    Field::new(name, TypeRef::named_nn(TypeRef::INT), move |ctx| {
        FieldFuture::new(async move { Ok(Some(Value::from(get(&counts(&ctx, parent_record(&ctx)?).await?)))) })
    })
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    register_loader(registrar, |app| CountsLoader(app.clone()));
    let prefetch_counts: Prefetch = |ctx, record| Box::pin(async move { drop(counts(ctx, record).await) });
    registrar.add_prefetch(POST, &["commentCount", "totalCommentCount"], prefetch_counts);
    registrar.add_prefetch(COMMENT, &["replyCount"], prefetch_counts);
    registrar.add_prefetch(COMMENT, &["totalReplyCount"], |ctx, record| {
        Box::pin(async move { drop(descendants(ctx, record).await) })
    });
    registrar.add_field(
        POST,
        "commentCount",
        counter("commentCount", |c| c.reply_count)
            .description("Live top-level comments (direct replies to the post), as clients show them."),
    )?;
    registrar.add_field(
        POST,
        "totalCommentCount",
        counter("totalCommentCount", |c| c.thread_count).description("Live comments in the whole thread."),
    )?;
    registrar.add_field(
        COMMENT,
        "replyCount",
        counter("replyCount", |c| c.reply_count).description("Live direct replies."),
    )?;
    register_loader(registrar, |app| DescendantsLoader(app.clone()));
    let total = Field::new("totalReplyCount", TypeRef::named_nn(TypeRef::INT), |ctx| {
        FieldFuture::new(async move { Ok(Some(Value::from(descendants(&ctx, parent_record(&ctx)?).await?))) })
    });
    registrar.add_field(
        COMMENT,
        "totalReplyCount",
        total.description("Live comments anywhere below this one (its whole subtree)."),
    )
}
