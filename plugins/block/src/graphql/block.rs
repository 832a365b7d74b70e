//! The `CommunityBlock` object type and its connection.

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};
use coves_plugin_api::graphql::parent_field;
use coves_plugin_api::graphql_types::register_connection;
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::{Registrar, RegistrarError};
use coves_plugin_community::graphql::{COMMUNITY, load_community};

use crate::service::Block;

pub const COMMUNITY_BLOCK: &str = "CommunityBlock";

/// A block with its blocker's DID (for its URI): the type's parent value.
#[derive(Clone, Debug)]
pub struct BlockNode {
    pub actor_did: String,
    pub block: Block,
}

type Getter = fn(&BlockNode) -> Option<Value>;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(Object::new(COMMUNITY_BLOCK).description(
        "A user's block of a community: the newest of the user's live social.coves.community.block records for it.",
    ))?;
    let string_nn = || TypeRef::named_nn(TypeRef::STRING);
    let fields: [(&str, TypeRef, &str, Getter); 3] = [
        ("uri", string_nn(), "The record's AT-URI in the blocker's repo (delete it to unblock).", |b| {
            Some(b.block.uri(&b.actor_did).into())
        }),
        ("rkey", string_nn(), "The record's key.", |b| Some(b.block.rkey.clone().into())),
        ("createdAt", string_nn(), "The record's createdAt (RFC 3339, UTC).", |b| {
            Some(format_datetime(&b.block.created_at).into())
        }),
    ];
    for (name, ty, description, get) in fields {
        registrar.add_field(
            COMMUNITY_BLOCK,
            name,
            parent_field::<BlockNode>(name, ty, get).description(description),
        )?;
    }
    registrar.add_field(
        COMMUNITY_BLOCK,
        "community",
        Field::new("community", TypeRef::named(COMMUNITY), |ctx| {
            FieldFuture::new(async move {
                let node = ctx.parent_value.try_downcast_ref::<BlockNode>()?;
                Ok(load_community(&ctx, &node.block.community_did).await?.map(FieldValue::owned_any))
            })
        })
        .description("The community (null while it is not indexed or not readable)."),
    )?;
    register_connection::<BlockNode>(registrar, COMMUNITY_BLOCK, "A page of community blocks.")
}
