//! `Query.posts(community, author, sort, timeframe, first, after)`.

use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, TypeRef};
use coves_plugin_api::cursor::Page;
use coves_plugin_api::graphql::{RecordNode, prefetch_records};
use coves_plugin_api::graphql_types::{
    Connection, TotalCount, connection_type, page_argument_values, page_arguments, sort_argument, sort_arguments,
};
use coves_plugin_api::identifiers::{parse_actor_id, parse_community_id};
use coves_plugin_api::ranking::Timeframe;
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError};

use super::post::{POST, node};
use crate::service::{PostFilter, count_posts, list_posts, page_start};

/// Page size when `first` is absent.
pub const DEFAULT_FIRST: i64 = 25;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    let field = Field::new("posts", TypeRef::named_nn(connection_type(POST)), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let arg = |name: &str| ctx.args.get(name).filter(|v| !v.is_null());
            let sort = sort_argument(&ctx, Timeframe::Day)?;
            let (first, after) = page_argument_values(&ctx, DEFAULT_FIRST)?;
            let start = page_start(sort, after).map_err(|e| e.extend())?;
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            let mut filter = PostFilter::default();
            if let Some(raw) = arg("community").map(|v| v.string()).transpose()? {
                let id = parse_community_id(raw, &app.instance.domains).map_err(|e| e.extend())?;
                let did = coves_plugin_community::resolve_community(&mut conn, &id)
                    .await
                    .map_err(|e| ApiError::from(e).extend())?;
                // An unknown community has no posts (rather than every post).
                let Some(did) = did else { return Ok(Some(FieldValue::owned_any(empty()))) };
                filter.community = Some(did);
            }
            if let Some(raw) = arg("author").map(|v| v.string()).transpose()? {
                let id = parse_actor_id(raw).map_err(|e| e.extend())?;
                let did = coves_plugin_actor::resolve_actor(app, &mut conn, &id).await.map_err(|e| e.extend())?;
                let Some(did) = did else { return Ok(Some(FieldValue::owned_any(empty()))) };
                filter.author = Some(did);
            }
            let page = list_posts(&mut conn, &filter, &start, first).await.map_err(|e| e.extend())?;
            let app = app.clone();
            let total_count = TotalCount::new(move || {
                let (app, filter, start) = (app.clone(), filter.clone(), start.clone());
                async move { count_posts(&mut *app.conn().await?, &filter, &start).await }
            });
            let connection = Connection::from_page(page, node, total_count);
            // The loaders take connections of their own: give this one back first.
            drop(conn);
            prefetch_records(&ctx, POST, connection.edges.iter().map(|e| &e.node)).await;
            Ok(Some(FieldValue::owned_any(connection)))
        })
    });
    let field = page_arguments(sort_arguments(field, Timeframe::Day), DEFAULT_FIRST)
        .argument(
            InputValue::new("community", TypeRef::named(TypeRef::STRING))
                .description("Only posts in this community: a DID, handle, or !name@instance."),
        )
        .argument(
            InputValue::new("author", TypeRef::named(TypeRef::STRING))
                .description("Only posts by this actor: a DID, handle, or @handle."),
        )
        .description(
            "Readable posts, ranked and paginated: cursors keep the first page's reference time, so pages neither \
             repeat nor skip posts while new posts and votes arrive.",
        );
    registrar.add_query_field("posts", field)
}

fn empty() -> Connection<RecordNode> {
    Connection::from_page(Page::empty(), node, TotalCount::new(|| async { Ok(0) }))
}
