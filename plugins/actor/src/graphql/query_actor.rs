//! `Query.actor(id:)`.

use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, TypeRef};
use coves_plugin_api::{AppContext, Registrar, RegistrarError};

use super::actor::ACTOR;
use coves_plugin_api::identifiers::parse_actor_id;

use crate::service::find_actor;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    let field = Field::new("actor", TypeRef::named(ACTOR), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let raw = ctx.args.try_get("id")?.string()?;
            let id = parse_actor_id(raw).map_err(|e| e.extend())?;
            let actor = find_actor(app, &id).await.map_err(|e| e.extend())?;
            Ok(actor.map(FieldValue::owned_any))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)).description("A DID, handle, or @handle."))
    .description("An actor by DID or handle; null when the AppView does not know it or the account is not active.");
    registrar.add_query_field("actor", field)
}
