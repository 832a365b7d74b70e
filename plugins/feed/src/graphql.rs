//! GraphQL: `Query.feed(kind, community, sort, timeframe, first, after)`, the feeds of
//! [`crate::feeds`] as a `PostConnection`.

use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dynamic::{Enum, EnumItem, Field, FieldFuture, FieldValue, InputValue, TypeRef};
use coves_plugin_api::graphql::prefetch_records;
use coves_plugin_api::graphql_types::{
    Connection, TotalCount, connection_type, page_argument_values, page_arguments, sort_argument, sort_arguments,
};
use coves_plugin_api::identifiers::parse_community_id;
use coves_plugin_api::ranking::Timeframe;
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError, Viewer};
use coves_plugin_post::graphql::{POST, node};
use coves_plugin_post::service::{PostPage, count_posts, list_posts, page_start};

use crate::feeds::{FeedKind, feed_filter};

/// The enum naming a feed.
pub const FEED_KIND: &str = "FeedKind";

/// Page size when `first` is absent.
const DEFAULT_FIRST: i64 = 25;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(
        Enum::new(FEED_KIND).description("Which posts a feed holds.").items([
            EnumItem::new("TIMELINE").description(
                "The communities the viewer subscribes to, minus those they block, each weighted by its \
             subscription's contentVisibility (1: the community's top 10 % of posts by score, 2: 25 %, 3: 50 %, \
             4: 75 %, 5: all). Needs a signed-in viewer.",
            ),
            EnumItem::new("DISCOVER").description("Every public community, minus those the viewer blocks."),
            EnumItem::new("COMMUNITY")
                .description("One community (the `community` argument), even if the viewer blocks it."),
        ]),
    )?;
    let field = Field::new("feed", TypeRef::named_nn(connection_type(POST)), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let viewer = ctx.data_opt::<Viewer>().cloned().unwrap_or_default();
            let sort = sort_argument(&ctx, Timeframe::Day)?;
            let (first, after) = page_argument_values(&ctx, DEFAULT_FIRST)?;
            let start = page_start(sort, after).map_err(|e| e.extend())?;
            let community = ctx.args.get("community").filter(|v| !v.is_null()).map(|v| v.string()).transpose()?;
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            let kind = match ctx.args.try_get("kind")?.enum_name()? {
                "TIMELINE" => {
                    viewer.require().map_err(|e| e.extend())?;
                    FeedKind::Timeline
                }
                "DISCOVER" => FeedKind::Discover,
                _ => {
                    let raw = community.ok_or_else(|| {
                        ApiError::invalid_request("a COMMUNITY feed needs the community argument").extend()
                    })?;
                    let id = parse_community_id(raw, &app.instance.domains).map_err(|e| e.extend())?;
                    let did = coves_plugin_community::resolve_community(&mut conn, &id)
                        .await
                        .map_err(|e| ApiError::from(e).extend())?
                        .ok_or_else(|| {
                            ApiError::not_found("CommunityNotFound", format!("community {raw} not found")).extend()
                        })?;
                    FeedKind::Community(did)
                }
            };
            let viewer_did = viewer.did.as_ref().map(|d| d.as_str());
            let filter = feed_filter(&mut conn, &kind, viewer_did).await.map_err(|e| e.extend())?;
            let page = match &filter {
                Some(filter) => list_posts(&mut conn, filter, &start, first).await.map_err(|e| e.extend())?,
                None => PostPage::empty(),
            };
            let app = app.clone();
            let total_count = TotalCount::new(move || {
                let (app, filter, start) = (app.clone(), filter.clone(), start.clone());
                async move {
                    match filter {
                        Some(filter) => count_posts(&mut *app.conn().await?, &filter, &start).await,
                        None => Ok(0),
                    }
                }
            });
            let connection = Connection::from_page(page, node, total_count);
            // The loaders take connections of their own: give this one back first.
            drop(conn);
            prefetch_records(&ctx, POST, connection.edges.iter().map(|e| &e.node)).await;
            Ok(Some(FieldValue::owned_any(connection)))
        })
    });
    let field = page_arguments(sort_arguments(field, Timeframe::Day), DEFAULT_FIRST)
        .argument(InputValue::new("kind", TypeRef::named_nn(FEED_KIND)).description("Which feed."))
        .argument(
            InputValue::new("community", TypeRef::named(TypeRef::STRING))
                .description("The community of a COMMUNITY feed: a DID, handle, or !name@instance."),
        )
        .description(
            "A feed of readable posts, ranked and paginated like `posts`: cursors keep the first page's reference \
             time, so pages neither repeat nor skip posts while new posts and votes arrive.",
        );
    registrar.add_query_field("feed", field)
}
