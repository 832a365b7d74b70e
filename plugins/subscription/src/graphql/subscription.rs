//! The `CommunitySubscription` object type and its connection.

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};
use coves_plugin_api::graphql::parent_field;
use coves_plugin_api::graphql_types::register_connection;
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::{Registrar, RegistrarError};
use coves_plugin_community::graphql::{COMMUNITY, load_community};

use crate::service::Subscription;

pub const COMMUNITY_SUBSCRIPTION: &str = "CommunitySubscription";

/// A subscription with its subscriber's DID (for its URI): the type's parent value.
#[derive(Clone, Debug)]
pub struct SubscriptionNode {
    pub actor_did: String,
    pub subscription: Subscription,
}

type Getter = fn(&SubscriptionNode) -> Option<Value>;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(Object::new(COMMUNITY_SUBSCRIPTION).description(
        "A user's subscription to a community: the newest of the user's live social.coves.community.subscription \
         records for it.",
    ))?;
    let string_nn = || TypeRef::named_nn(TypeRef::STRING);
    let fields: [(&str, TypeRef, &str, Getter); 4] = [
        ("uri", string_nn(), "The record's AT-URI in the subscriber's repo (delete it to unsubscribe).", |s| {
            Some(s.subscription.uri(&s.actor_did).into())
        }),
        ("rkey", string_nn(), "The record's key.", |s| Some(s.subscription.rkey.clone().into())),
        (
            "contentVisibility",
            TypeRef::named_nn(TypeRef::INT),
            "How much of the community reaches the home timeline: 1 only its best posts … 5 everything.",
            |s| Some(i32::from(s.subscription.content_visibility).into()),
        ),
        ("createdAt", string_nn(), "The record's createdAt (RFC 3339, UTC).", |s| {
            Some(format_datetime(&s.subscription.created_at).into())
        }),
    ];
    for (name, ty, description, get) in fields {
        registrar.add_field(
            COMMUNITY_SUBSCRIPTION,
            name,
            parent_field::<SubscriptionNode>(name, ty, get).description(description),
        )?;
    }
    registrar.add_field(
        COMMUNITY_SUBSCRIPTION,
        "community",
        Field::new("community", TypeRef::named(COMMUNITY), |ctx| {
            FieldFuture::new(async move {
                let node = ctx.parent_value.try_downcast_ref::<SubscriptionNode>()?;
                Ok(load_community(&ctx, &node.subscription.community_did).await?.map(FieldValue::owned_any))
            })
        })
        .description("The community (null while it is not indexed or not readable)."),
    )?;
    register_connection::<SubscriptionNode>(registrar, COMMUNITY_SUBSCRIPTION, "A page of subscriptions.")
}
