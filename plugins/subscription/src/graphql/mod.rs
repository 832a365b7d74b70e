//! GraphQL: the `CommunitySubscription` type, `Community.viewerSubscription` (batched) and
//! `Actor.subscriptions` (shown to that actor only), the last two through the shared
//! relation reads (`community_relation::graphql`).

mod subscription;

use coves_plugin_actor::ActorRow;
use coves_plugin_actor::graphql::ACTOR;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, TypeRef};
use coves_plugin_api::community_relation::graphql::{OwnRows, register_viewer_rows, viewer_row};
use coves_plugin_api::{Registrar, RegistrarError};
use coves_plugin_community::CommunityRow;
use coves_plugin_community::graphql::COMMUNITY;

pub use subscription::COMMUNITY_SUBSCRIPTION;
use subscription::SubscriptionNode;

use crate::ingest::SUBSCRIPTIONS;
use crate::service::Subscription;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    subscription::register(registrar)?;
    register_viewer_rows::<Subscription>(registrar, SUBSCRIPTIONS);
    let viewer = Field::new("viewerSubscription", TypeRef::named(COMMUNITY_SUBSCRIPTION), |ctx| {
        FieldFuture::new(async move {
            let community = ctx.parent_value.try_downcast_ref::<CommunityRow>()?.did.clone();
            let row = viewer_row::<Subscription>(&ctx, community).await?;
            Ok(row.map(|(actor_did, subscription)| FieldValue::owned_any(SubscriptionNode { actor_did, subscription })))
        })
    });
    registrar.add_field(
        COMMUNITY,
        "viewerSubscription",
        viewer.description(
            "The authenticated viewer's subscription to this community; null for anonymous requests or when not \
             subscribed.",
        ),
    )?;
    let own = OwnRows {
        relation: SUBSCRIPTIONS,
        node_type: COMMUNITY_SUBSCRIPTION,
        what_they_list: "their subscriptions",
        actor_did: |ctx| Ok(ctx.parent_value.try_downcast_ref::<ActorRow>()?.did.clone()),
        node: |actor_did, subscription| SubscriptionNode { actor_did, subscription },
    };
    own.register(
        registrar,
        ACTOR,
        "subscriptions",
        "The communities this actor subscribes to, newest subscription first. Only the actor may list them (a \
         viewer token for that DID); anyone else gets a Forbidden error.",
    )
}
