//! GraphQL types shared by every plugin and owned by the server core: the `JSON` scalar
//! and Relay-style connections (`PageInfo`, `<Node>Connection`, `<Node>Edge`).
//!
//! The server registers [`register_shared_types`] once; a plugin paginating a list calls
//! [`register_connection`] for its node type and returns a [`Connection`] from the field.
//! Cursors are the opaque keyset cursors of [`crate::cursor`].

use std::any::Any;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, Scalar, TypeRef,
};
use async_graphql::{ErrorExtensions, Value};
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::cursor::Page;
use crate::error::ApiError;
use crate::graphql::{Registrar, RegistrarError};
use crate::ranking::{Sort, Timeframe};

/// The `JSON` scalar: any JSON value, passed through verbatim (facets, raw records).
pub const JSON: &str = "JSON";
/// The `PageInfo` object of every connection.
pub const PAGE_INFO: &str = "PageInfo";
/// The `Sort` enum of ranked lists (posts, comments).
pub const SORT: &str = "Sort";
/// The `Timeframe` enum of `TOP` lists.
pub const TIMEFRAME: &str = "Timeframe";

/// One page of a paginated list: what a connection field resolves to.
#[derive(Clone)]
pub struct Connection<T> {
    /// The items, each with the cursor of the position just after it.
    pub edges: Vec<Edge<T>>,
    /// Whether items follow the last edge.
    pub has_next_page: bool,
    /// Counts the whole list; run only when `totalCount` is selected.
    pub total_count: TotalCount,
}

/// How a connection counts its whole list (a `count(*)` with the list's filters), run
/// only when a query selects `totalCount`.
#[derive(Clone)]
pub struct TotalCount(Arc<dyn Fn() -> BoxFuture<'static, Result<i64, ApiError>> + Send + Sync>);

impl TotalCount {
    /// A count computed by `count` when asked for.
    pub fn new<F>(count: impl Fn() -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = Result<i64, ApiError>> + Send + 'static,
    {
        Self(Arc::new(move || count().boxed()))
    }

    /// Runs the count.
    pub async fn get(&self) -> Result<i64, ApiError> {
        (self.0)().await
    }
}

/// An item of a [`Connection`].
#[derive(Clone, Debug)]
pub struct Edge<T> {
    /// Pass as `after` to continue after this item.
    pub cursor: String,
    /// The item.
    pub node: T,
}

impl<T> Connection<T> {
    /// A page of a list as a connection, each row made a node by `node`.
    pub fn from_page<R>(page: Page<R>, node: impl Fn(R) -> T, total_count: TotalCount) -> Self {
        Self {
            edges: page.items.into_iter().map(|i| Edge { cursor: i.cursor, node: node(i.item) }).collect(),
            has_next_page: page.has_more,
            total_count,
        }
    }

    /// The cursor of the last edge, if any.
    pub fn end_cursor(&self) -> Option<&str> {
        self.edges.last().map(|e| e.cursor.as_str())
    }
}

struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

/// Registers the shared types (the server core calls this once).
pub fn register_shared_types(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(Scalar::new(JSON).description("Any JSON value, passed through verbatim."))?;
    crate::live::graphql::register_seq(registrar)?;
    registrar.add_type(Object::new(PAGE_INFO).description("Where a page of a connection ends."))?;
    registrar.add_type(Enum::new(SORT).description("How posts and comments are ranked.").items([
        EnumItem::new("HOT").description("Score decaying with age (posts: (score+1)/(ageHours+2)^1.5)."),
        EnumItem::new("TOP").description("Highest score first, within `timeframe`."),
        EnumItem::new("NEW").description("Newest first."),
    ]))?;
    registrar.add_type(
        Enum::new(TIMEFRAME)
            .description("The window of a TOP list, ending now: fixed lengths (a month is 30 days, a year 365).")
            .items(Timeframe::ALL.map(|t| EnumItem::new(t.as_str().to_ascii_uppercase()))),
    )?;
    registrar.add_field(
        PAGE_INFO,
        "hasNextPage",
        Field::new("hasNextPage", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                let info = ctx.parent_value.try_downcast_ref::<PageInfo>()?;
                Ok(Some(Value::from(info.has_next_page)))
            })
        })
        .description("Whether more items follow; request them with `after: endCursor`."),
    )?;
    registrar.add_field(
        PAGE_INFO,
        "endCursor",
        Field::new("endCursor", TypeRef::named(TypeRef::STRING), |ctx| {
            FieldFuture::new(async move {
                let info = ctx.parent_value.try_downcast_ref::<PageInfo>()?;
                Ok(info.end_cursor.clone().map(Value::from))
            })
        })
        .description("The cursor of the last item of this page; null when the page is empty."),
    )
}

/// Reads a ranked list's `sort` and `timeframe` arguments (absent or null: `HOT`, and
/// `default_timeframe` for `TOP`).
pub fn sort_argument(ctx: &ResolverContext<'_>, default_timeframe: Timeframe) -> async_graphql::Result<Sort> {
    let arg = |name: &str| -> async_graphql::Result<Option<String>> {
        match ctx.args.get(name).filter(|v| !v.is_null()) {
            Some(value) => Ok(Some(value.enum_name()?.to_ascii_lowercase())),
            None => Ok(None),
        }
    };
    let sort = arg("sort")?.unwrap_or_else(|| "hot".to_owned());
    let timeframe = arg("timeframe")?;
    Sort::from_params(&sort, timeframe.as_deref(), default_timeframe).map_err(|e| e.extend())
}

/// The `sort` and `timeframe` arguments of a ranked list field.
pub fn sort_arguments(field: Field, default_timeframe: Timeframe) -> Field {
    field.argument(InputValue::new("sort", TypeRef::named(SORT)).description("The order; HOT when absent.")).argument(
        InputValue::new("timeframe", TypeRef::named(TIMEFRAME)).description(format!(
            "The window of TOP (ignored by the other sorts); {} when absent.",
            default_timeframe.as_str().to_ascii_uppercase()
        )),
    )
}

/// The `first` (page size, clamped to 1..100) and `after` (cursor) arguments of a
/// connection field.
pub fn page_arguments(field: Field, default_first: i64) -> Field {
    field
        .argument(
            InputValue::new("first", TypeRef::named_nn(TypeRef::INT))
                .default_value(Value::from(default_first))
                .description("Page size, clamped to 1..100."),
        )
        .argument(
            InputValue::new("after", TypeRef::named(TypeRef::STRING))
                .description("Continue after this cursor (`pageInfo.endCursor` or an edge's `cursor`)."),
        )
}

/// Reads the arguments of [`page_arguments`]: the page size, clamped to 1..100, and the
/// cursor to continue after (absent or null: the first page).
pub fn page_argument_values<'a>(
    ctx: &'a ResolverContext<'_>,
    default_first: i64,
) -> async_graphql::Result<(i64, Option<&'a str>)> {
    let arg = |name: &str| ctx.args.get(name).filter(|v| !v.is_null());
    let first = arg("first").map(|v| v.i64()).transpose()?.unwrap_or(default_first).clamp(1, 100);
    let after = arg("after").map(|v| v.string()).transpose()?;
    Ok((first, after))
}

/// The connection type's name for a node type (`Community` → `CommunityConnection`).
pub fn connection_type(node: &str) -> String {
    format!("{node}Connection")
}

/// Registers `<node>Connection { edges nodes pageInfo totalCount }` and `<node>Edge { cursor node }`
/// for a node type whose resolvers take a `T` parent value
/// (`FieldValue::owned_any(T)`). A connection field returns
/// `FieldValue::owned_any(Connection<T>)`.
pub fn register_connection<T: Clone + Any + Send + Sync>(
    registrar: &mut Registrar,
    node: &str,
    description: &str,
) -> Result<(), RegistrarError> {
    let connection = connection_type(node);
    let edge = format!("{node}Edge");
    registrar.add_type(Object::new(&connection).description(description))?;
    registrar.add_type(Object::new(&edge).description(format!("A {node} in a page, with its cursor.")))?;
    registrar.add_field(
        &connection,
        "edges",
        Field::new("edges", TypeRef::named_nn_list_nn(&edge), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Connection<T>>()?;
                Ok(Some(FieldValue::list(page.edges.iter().cloned().map(FieldValue::owned_any))))
            })
        })
        .description("The page's items with their cursors."),
    )?;
    registrar.add_field(
        &connection,
        "nodes",
        Field::new("nodes", TypeRef::named_nn_list_nn(node), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Connection<T>>()?;
                Ok(Some(FieldValue::list(page.edges.iter().map(|e| FieldValue::owned_any(e.node.clone())))))
            })
        })
        .description("The page's items (the edges' nodes)."),
    )?;
    registrar.add_field(
        &connection,
        "pageInfo",
        Field::new("pageInfo", TypeRef::named_nn(PAGE_INFO), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Connection<T>>()?;
                let info =
                    PageInfo { has_next_page: page.has_next_page, end_cursor: page.end_cursor().map(str::to_owned) };
                Ok(Some(FieldValue::owned_any(info)))
            })
        })
        .description("Whether more items follow, and the cursor to request them."),
    )?;
    registrar.add_field(
        &connection,
        "totalCount",
        Field::new("totalCount", TypeRef::named_nn(TypeRef::INT), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Connection<T>>()?;
                let total = page.total_count.get().await.map_err(|e| e.extend())?;
                Ok(Some(Value::from(total)))
            })
        })
        .description("How many items the whole list holds (counted only when selected)."),
    )?;
    registrar.add_field(
        &edge,
        "cursor",
        Field::new("cursor", TypeRef::named_nn(TypeRef::STRING), |ctx| {
            FieldFuture::new(async move {
                let edge = ctx.parent_value.try_downcast_ref::<Edge<T>>()?;
                Ok(Some(Value::from(edge.cursor.clone())))
            })
        })
        .description("Pass as `after` to continue after this item."),
    )?;
    registrar.add_field(
        &edge,
        "node",
        Field::new("node", TypeRef::named_nn(node), |ctx| {
            FieldFuture::new(async move {
                let edge = ctx.parent_value.try_downcast_ref::<Edge<T>>()?;
                Ok(Some(FieldValue::owned_any(edge.node.clone())))
            })
        })
        .description("The item."),
    )
}
