//! `Query.post(uri:)`.

use coves_plugin_api::async_graphql::ErrorExtensions;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, TypeRef};
use coves_plugin_api::syntax::AtUri;
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError};

use super::post::{POST, node};
use crate::service::find_posts;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    let field = Field::new("post", TypeRef::named(POST), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let uri = ctx.args.try_get("uri")?.string()?;
            AtUri::new(uri)
                .map_err(|e| ApiError::invalid_request(format!("uri must be an AT-URI of a post: {e}")).extend())?;
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            let post = find_posts(&mut conn, &[uri]).await.map_err(|e| ApiError::from(e).extend())?.pop();
            Ok(post.map(|p| FieldValue::owned_any(node(p))))
        })
    })
    .argument(
        InputValue::new("uri", TypeRef::named_nn(TypeRef::STRING))
            .description("at://<community DID>/social.coves.community.post/<rkey>"),
    )
    .description("A post by URI; null when it is unknown, deleted, or not readable.");
    registrar.add_query_field("post", field)
}
