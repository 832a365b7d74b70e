//! GraphQL: the `CommunityBlock` type, `Community.viewerBlocked` and `.viewerBlock`
//! (batched) and `Actor.blockedCommunities` (shown to that actor only), the last three
//! through the shared relation reads (`community_relation::graphql`).

mod block;

use coves_plugin_actor::ActorRow;
use coves_plugin_actor::graphql::ACTOR;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, ResolverContext, TypeRef};
use coves_plugin_api::async_graphql::{self, Value};
use coves_plugin_api::community_relation::graphql::{OwnRows, register_viewer_rows, viewer_row};
use coves_plugin_api::{Registrar, RegistrarError};
use coves_plugin_community::CommunityRow;
use coves_plugin_community::graphql::COMMUNITY;

use block::BlockNode;
pub use block::COMMUNITY_BLOCK;

use crate::ingest::BLOCKS;
use crate::service::Block;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    block::register(registrar)?;
    register_viewer_rows::<Block>(registrar, BLOCKS);
    let blocked = Field::new("viewerBlocked", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
        FieldFuture::new(async move { Ok(Some(Value::from(viewer_block(&ctx).await?.is_some()))) })
    });
    registrar.add_field(
        COMMUNITY,
        "viewerBlocked",
        blocked.description("Whether the authenticated viewer blocks this community; false for anonymous requests."),
    )?;
    let block = Field::new("viewerBlock", TypeRef::named(COMMUNITY_BLOCK), |ctx| {
        FieldFuture::new(async move { Ok(viewer_block(&ctx).await?.map(FieldValue::owned_any)) })
    });
    registrar.add_field(
        COMMUNITY,
        "viewerBlock",
        block.description(
            "The authenticated viewer's block of this community (its record, to delete to unblock); null for \
             anonymous requests or when not blocked.",
        ),
    )?;
    let own = OwnRows {
        relation: BLOCKS,
        node_type: COMMUNITY_BLOCK,
        what_they_list: "the communities they block",
        actor_did: |ctx| Ok(ctx.parent_value.try_downcast_ref::<ActorRow>()?.did.clone()),
        node: |actor_did, block| BlockNode { actor_did, block },
    };
    own.register(
        registrar,
        ACTOR,
        "blockedCommunities",
        "The communities this actor blocks, newest block first. Only the actor may list them (a viewer token for \
         that DID); anyone else gets a Forbidden error.",
    )
}

/// The viewer's block of the parent community; `None` for anonymous requests.
async fn viewer_block(ctx: &ResolverContext<'_>) -> async_graphql::Result<Option<BlockNode>> {
    let community = ctx.parent_value.try_downcast_ref::<CommunityRow>()?.did.clone();
    Ok(viewer_row::<Block>(ctx, community).await?.map(|(actor_did, block)| BlockNode { actor_did, block }))
}
