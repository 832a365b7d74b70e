//! `Actor.blockedCommunities`: the communities an actor blocks, newest first, shown to
//! that actor only.

use coves_plugin_actor::ActorRow;
use coves_plugin_actor::graphql::ACTOR;
use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, TypeRef};
use coves_plugin_api::graphql_types::{Connection, TotalCount, connection_type, page_argument_values, page_arguments};
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError, Viewer};

use super::COMMUNITY_BLOCK;
use super::block::BlockNode;
use crate::service::{count_blocks, list_blocks};

const DEFAULT_FIRST: i64 = 50;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    let field = Field::new("blockedCommunities", TypeRef::named_nn(connection_type(COMMUNITY_BLOCK)), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let actor_did = ctx.parent_value.try_downcast_ref::<ActorRow>()?.did.clone();
            let viewer = ctx.data_opt::<Viewer>().and_then(|v| v.did.as_ref());
            if viewer.is_none_or(|viewer| viewer.as_str() != actor_did) {
                return Err(ApiError::forbidden(format!(
                    "only {actor_did} can list the communities they block: sign in as that account"
                ))
                .extend());
            }
            let (first, after) = page_argument_values(&ctx, DEFAULT_FIRST)?;
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            let page = list_blocks(&mut conn, &actor_did, after, first).await.map_err(|e| e.extend())?;
            let (app, actor) = (app.clone(), actor_did.clone());
            let total_count = TotalCount::new(move || {
                let (app, actor) = (app.clone(), actor.clone());
                async move { Ok(count_blocks(&mut *app.conn().await?, &actor).await?) }
            });
            let node = |block| BlockNode { actor_did: actor_did.clone(), block };
            Ok(Some(FieldValue::owned_any(Connection::from_page(page, node, total_count))))
        })
    });
    registrar.add_field(
        ACTOR,
        "blockedCommunities",
        page_arguments(field, DEFAULT_FIRST).description(
            "The communities this actor blocks, newest block first. Only the actor may list them (a viewer token for \
             that DID); anyone else gets a Forbidden error.",
        ),
    )
}
