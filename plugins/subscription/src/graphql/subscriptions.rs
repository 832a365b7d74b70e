//! `Actor.subscriptions`: the communities an actor subscribes to, newest first, shown to
//! that actor only.

use coves_plugin_actor::ActorRow;
use coves_plugin_actor::graphql::ACTOR;
use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, TypeRef};
use coves_plugin_api::graphql_types::{Connection, TotalCount, connection_type, page_argument_values, page_arguments};
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError, Viewer};

use super::COMMUNITY_SUBSCRIPTION;
use super::subscription::SubscriptionNode;
use crate::service::{count_subscriptions, list_subscriptions};

const DEFAULT_FIRST: i64 = 50;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    let field = Field::new("subscriptions", TypeRef::named_nn(connection_type(COMMUNITY_SUBSCRIPTION)), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let actor_did = ctx.parent_value.try_downcast_ref::<ActorRow>()?.did.clone();
            let viewer = ctx.data_opt::<Viewer>().and_then(|v| v.did.as_ref());
            if viewer.is_none_or(|viewer| viewer.as_str() != actor_did) {
                return Err(ApiError::forbidden(format!(
                    "only {actor_did} can list their subscriptions: sign in as that account"
                ))
                .extend());
            }
            let (first, after) = page_argument_values(&ctx, DEFAULT_FIRST)?;
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            let page = list_subscriptions(&mut conn, &actor_did, after, first).await.map_err(|e| e.extend())?;
            let (app, actor) = (app.clone(), actor_did.clone());
            let total_count = TotalCount::new(move || {
                let (app, actor) = (app.clone(), actor.clone());
                async move { Ok(count_subscriptions(&mut *app.conn().await?, &actor).await?) }
            });
            let node = |subscription| SubscriptionNode { actor_did: actor_did.clone(), subscription };
            Ok(Some(FieldValue::owned_any(Connection::from_page(page, node, total_count))))
        })
    });
    registrar.add_field(
        ACTOR,
        "subscriptions",
        page_arguments(field, DEFAULT_FIRST).description(
            "The communities this actor subscribes to, newest subscription first. Only the actor may list them \
             (a viewer token for that DID); anyone else gets a Forbidden error.",
        ),
    )
}
