//! `Query.community(id:)`.

use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, TypeRef};
use coves_plugin_api::identifiers::parse_community_id;
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError};

use super::community::COMMUNITY;
use crate::service::find_community;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    let field = Field::new("community", TypeRef::named(COMMUNITY), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let raw = ctx.args.try_get("id")?.string()?;
            let id = parse_community_id(raw, &app.instance.domains).map_err(|e| e.extend())?;
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            let community = find_community(&mut conn, &id).await.map_err(|e| ApiError::from(e).extend())?;
            Ok(community.map(FieldValue::owned_any))
        })
    })
    .argument(
        InputValue::new("id", TypeRef::named_nn(TypeRef::STRING))
            .description("A DID, a handle (c-name.instance or @c-name.instance), or !name@instance."),
    )
    .description("A community by DID or handle; null when no readable community has it.");
    registrar.add_query_field("community", field)
}
