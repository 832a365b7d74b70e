//! `Query.communities(sort, search, visibility, first, after)`.

use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dynamic::{Enum, EnumItem, Field, FieldFuture, FieldValue, InputValue, TypeRef};
use coves_plugin_api::graphql_types::{Connection, TotalCount, connection_type, page_argument_values, page_arguments};
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError};

use super::community::COMMUNITY;
use crate::service::{CommunitySort, DEFAULT_LIMIT, ListQuery, Visibility, count_communities, list_communities};

const SORT: &str = "CommunitySort";
const VISIBILITY: &str = "CommunityVisibility";

const SORTS: [(&str, CommunitySort, &str); 5] = [
    ("POPULAR", CommunitySort::Popular, "Most subscribers first."),
    ("ACTIVE", CommunitySort::Active, "Most posts first."),
    ("NEW", CommunitySort::New, "Newest first."),
    ("ALPHABETICAL", CommunitySort::Alphabetical, "By name."),
    ("RELEVANCE", CommunitySort::Relevance, "Best search match first, then most subscribers (needs `search`)."),
];

const VISIBILITIES: [(&str, Visibility); 3] =
    [("PUBLIC", Visibility::Public), ("UNLISTED", Visibility::Unlisted), ("PRIVATE", Visibility::Private)];

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(
        Enum::new(SORT)
            .description("Orders of community lists; ties go by DID.")
            .items(SORTS.iter().map(|(name, _, description)| EnumItem::new(*name).description(*description))),
    )?;
    registrar.add_type(
        Enum::new(VISIBILITY)
            .description("Who may discover a community.")
            .items(VISIBILITIES.iter().map(|(name, _)| EnumItem::new(*name))),
    )?;
    let field = Field::new("communities", TypeRef::named_nn(connection_type(COMMUNITY)), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            // Explicit nulls count as absent.
            let arg = |name: &str| ctx.args.get(name).filter(|v| !v.is_null());
            let search = arg("search").map(|v| v.string()).transpose()?;
            let sort = match arg("sort") {
                Some(value) => {
                    let name = value.enum_name()?;
                    SORTS.iter().find(|(n, _, _)| *n == name).map(|(_, s, _)| *s).ok_or("unknown sort")?
                }
                None if search.is_some_and(|s| !s.trim().is_empty()) => CommunitySort::Relevance,
                None => CommunitySort::Popular,
            };
            let visibility = match arg("visibility") {
                Some(value) => {
                    let name = value.enum_name()?;
                    Some(VISIBILITIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or("unknown visibility")?)
                }
                None => None,
            };
            let (first, after) = page_argument_values(&ctx, DEFAULT_LIMIT)?;
            let query = ListQuery { sort, visibility, search, only: None, limit: first, after };
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            let page = list_communities(&mut conn, &query).await.map_err(|e: ApiError| e.extend())?;
            let (app, search) = (app.clone(), search.map(str::to_owned));
            let total_count = TotalCount::new(move || {
                let (app, search) = (app.clone(), search.clone());
                async move { count_communities(&mut *app.conn().await?, search.as_deref(), visibility).await }
            });
            let connection = Connection::from_page(page, std::convert::identity, total_count);
            Ok(Some(FieldValue::owned_any(connection)))
        })
    })
    .argument(
        InputValue::new("sort", TypeRef::named(SORT))
            .description("The order; RELEVANCE when `search` is given, else POPULAR."),
    )
    .argument(
        InputValue::new("search", TypeRef::named(TypeRef::STRING))
            .description("Only communities whose name, display name or description match (case-insensitive)."),
    )
    .argument(InputValue::new("visibility", TypeRef::named(VISIBILITY)).description("Only this visibility."))
    .description("Readable communities, one page at a time.");
    registrar.add_query_field("communities", page_arguments(field, DEFAULT_LIMIT))
}
