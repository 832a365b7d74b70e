//! GraphQL reads of a [`Relation`]: the viewer's row for each community of a page, in one
//! query per batch, and the field listing an actor's own rows (to that actor only).

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

use async_graphql::ErrorExtensions;
use async_graphql::dataloader::Loader;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, ResolverContext, TypeRef};

use super::{Relation, RelationRow};
use crate::context::{AppContext, Viewer};
use crate::error::ApiError;
use crate::graphql::{Registrar, RegistrarError};
use crate::graphql_types::{Connection, TotalCount, connection_type, page_argument_values, page_arguments};
use crate::loader::{LoadError, Loaded, load_error, load_one, register_loader};

/// Rows of `T` by (viewer DID, community DID).
struct ViewerRows<T> {
    app: AppContext,
    relation: Relation,
    row: PhantomData<fn() -> T>,
}

impl<T: RelationRow + Clone + Sync> Loader<(String, String)> for ViewerRows<T> {
    type Value = T;
    type Error = LoadError;

    async fn load(&self, pairs: &[(String, String)]) -> Loaded<(String, String), T> {
        // A request has one viewer; group anyway, as loaders are shared by all requests.
        let mut by_viewer: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (viewer, community) in pairs {
            by_viewer.entry(viewer.as_str()).or_default().push(community.as_str());
        }
        let mut conn = self.app.conn().await.map_err(load_error)?;
        let mut found = HashMap::new();
        for (viewer, communities) in by_viewer {
            let rows: HashMap<String, T> =
                self.relation.rows_for(&mut conn, viewer, &communities).await.map_err(load_error)?;
            found.extend(rows.into_iter().map(|(community, row)| ((viewer.to_owned(), community), row)));
        }
        Ok(found)
    }
}

/// Registers the batched loader that [`viewer_row`] reads `T` through.
pub fn register_viewer_rows<T: RelationRow + Clone + Sync>(registrar: &mut Registrar, relation: Relation) {
    register_loader(registrar, move |app| ViewerRows::<T> { app: app.clone(), relation, row: PhantomData });
}

/// The authenticated viewer's row for `community_did`, with the viewer's DID; `None` for
/// anonymous requests or without a row.
pub async fn viewer_row<T: RelationRow + Clone + Sync>(
    ctx: &ResolverContext<'_>,
    community_did: String,
) -> async_graphql::Result<Option<(String, T)>> {
    let Some(viewer) = ctx.data_opt::<Viewer>().and_then(|v| v.did.as_ref()) else { return Ok(None) };
    let viewer = viewer.as_str().to_owned();
    let row = load_one::<_, ViewerRows<T>>(ctx, (viewer.clone(), community_did)).await?;
    Ok(row.map(|row| (viewer, row)))
}

/// A field on the actor type: a page of the parent actor's rows as nodes of `node_type`,
/// newest first, shown to that actor only (anyone else gets `Forbidden`, which says
/// `what_they_list`). `actor_did` reads the parent's DID; `node` pairs it with a row.
pub struct OwnRows<T, N> {
    pub relation: Relation,
    pub node_type: &'static str,
    pub what_they_list: &'static str,
    pub actor_did: fn(&ResolverContext<'_>) -> async_graphql::Result<String>,
    pub node: fn(String, T) -> N,
}

const DEFAULT_FIRST: i64 = 50;

impl<T: RelationRow, N: Send + Sync + 'static> OwnRows<T, N> {
    /// Adds the field `name` to `actor_type`.
    pub fn register(
        self,
        registrar: &mut Registrar,
        actor_type: &str,
        name: &str,
        description: &str,
    ) -> Result<(), RegistrarError> {
        let Self { relation, node_type, what_they_list, actor_did, node } = self;
        let field = Field::new(name, TypeRef::named_nn(connection_type(node_type)), move |ctx| {
            FieldFuture::new(async move {
                let app = ctx.data::<AppContext>()?;
                let actor = actor_did(&ctx)?;
                let viewer = ctx.data_opt::<Viewer>().and_then(|v| v.did.as_ref());
                if viewer.is_none_or(|viewer| viewer.as_str() != actor) {
                    let message = format!("only {actor} can list {what_they_list}: sign in as that account");
                    return Err(ApiError::forbidden(message).extend());
                }
                let (first, after) = page_argument_values(&ctx, DEFAULT_FIRST)?;
                let mut conn = app.conn().await.map_err(|e| e.extend())?;
                let page = relation.page_of::<T>(&mut conn, &actor, after, first).await.map_err(|e| e.extend())?;
                let (app, counted) = (app.clone(), actor.clone());
                let total_count = TotalCount::new(move || {
                    let (app, actor) = (app.clone(), counted.clone());
                    async move { Ok(relation.count_of(&mut *app.conn().await?, &actor).await?) }
                });
                let node = |row| node(actor.clone(), row);
                Ok(Some(FieldValue::owned_any(Connection::from_page(page, node, total_count))))
            })
        });
        registrar.add_field(actor_type, name, page_arguments(field, DEFAULT_FIRST).description(description))
    }
}
