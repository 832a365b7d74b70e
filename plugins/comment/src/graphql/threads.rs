//! Threads in GraphQL: `Post.comments` (the top level, live comments only) and
//! `Comment.replies` (placeholders included), nested as deep as the query asks, within the
//! schema's depth limit, each level a page of at most `first` comments.
//!
//! The first page of every parent on a level is read with one query for the whole level
//! (a loader); later pages (`after`) are read for their parent alone.

use std::collections::HashMap;

use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, ResolverContext, TypeRef};
use coves_plugin_api::graphql::{parent_record, prefetch_records};
use coves_plugin_api::graphql_types::{
    Connection, TotalCount, connection_type, page_argument_values, page_arguments, sort_argument, sort_arguments,
};
use coves_plugin_api::loader::{LoadError, Loaded, load_error, load_one, register_loader};
use coves_plugin_api::ranking::{Sort, Timeframe};
use coves_plugin_api::{AppContext, Registrar, RegistrarError};
use coves_plugin_post::graphql::POST;

use super::COMMENT;
use super::comment::node;
use crate::thread::{CommentFilter, CommentPage, count_comments, first_replies, list_comments, page_start};

/// The first page of one parent's comments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Level {
    parent: String,
    /// The top level of a thread (live comments of a post) rather than a comment's replies.
    top_level: bool,
    sort: Sort,
    first: i64,
}

/// First pages of many parents, one query per (kind, sort, size) group.
struct LevelLoader(AppContext);

impl Loader<Level> for LevelLoader {
    type Value = CommentPage;
    type Error = LoadError;

    async fn load(&self, levels: &[Level]) -> Loaded<Level, CommentPage> {
        let mut groups: HashMap<(bool, Sort, i64), Vec<String>> = HashMap::new();
        for level in levels {
            groups.entry((level.top_level, level.sort, level.first)).or_default().push(level.parent.clone());
        }
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let mut pages = HashMap::new();
        for ((top_level, sort, first), parents) in groups {
            let start = page_start(sort, None).map_err(load_error)?;
            let mut found = first_replies(&mut conn, &parents, top_level, &start, first).await.map_err(load_error)?;
            for parent in parents {
                let page = found.remove(&parent).unwrap_or_else(CommentPage::empty);
                pages.insert(Level { parent, top_level, sort, first }, page);
            }
        }
        Ok(pages)
    }
}

/// Resolves a thread level: the first page through the loader, later pages directly.
async fn level(
    ctx: &ResolverContext<'_>,
    top_level: bool,
    default_first: i64,
) -> coves_plugin_api::async_graphql::Result<Connection<coves_plugin_api::graphql::RecordNode>> {
    let app = ctx.data::<AppContext>()?;
    let parent = parent_record(ctx)?.uri().to_owned();
    let sort = sort_argument(ctx, Timeframe::All)?;
    let (first, after) = page_argument_values(ctx, default_first)?;
    let filter = if top_level {
        CommentFilter::TopLevel { root: parent.clone() }
    } else {
        CommentFilter::Replies { parent: parent.clone() }
    };
    let page = match after {
        None => load_one::<_, LevelLoader>(ctx, Level { parent, top_level, sort, first })
            .await?
            .unwrap_or_else(CommentPage::empty),
        Some(after) => {
            let start = page_start(sort, Some(after)).map_err(|e| e.extend())?;
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            list_comments(&mut conn, &filter, &start, first).await.map_err(|e| e.extend())?
        }
    };
    let app = app.clone();
    let total_count = TotalCount::new(move || {
        let (app, filter) = (app.clone(), filter.clone());
        async move { count_comments(&mut *app.conn().await?, &filter).await }
    });
    let connection = Connection::from_page(page, node, total_count);
    prefetch_records(ctx, COMMENT, connection.edges.iter().map(|e| &e.node)).await;
    Ok(connection)
}

fn thread_field(name: &str, top_level: bool, default_first: i64, description: &str) -> Field {
    let field = Field::new(name, TypeRef::named_nn(connection_type(COMMENT)), move |ctx| {
        FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(level(&ctx, top_level, default_first).await?))) })
    });
    page_arguments(sort_arguments(field, Timeframe::All), default_first).description(description)
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    register_loader(registrar, |app| LevelLoader(app.clone()));
    registrar.add_field(
        POST,
        "comments",
        thread_field(
            "comments",
            true,
            25,
            "The thread's top level: live comments replying to the post, ranked (hot by default). Expand each \
             with `replies`.",
        ),
    )?;
    registrar.add_field(
        COMMENT,
        "replies",
        thread_field(
            "replies",
            false,
            5,
            "Direct replies, ranked (hot by default); deleted ones stay as placeholders so their replies keep \
             their place.",
        ),
    )
}
