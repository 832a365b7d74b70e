//! `Community.viewerBlocked` and `Community.viewerBlock`: the authenticated viewer's block,
//! read for all the communities of a page with one query.

use std::collections::{BTreeMap, HashMap};

use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, ResolverContext, TypeRef};
use coves_plugin_api::async_graphql::{self, Value};
use coves_plugin_api::loader::{LoadError, Loaded, load_error, load_one, register_loader};
use coves_plugin_api::{AppContext, Registrar, RegistrarError, Viewer};
use coves_plugin_community::CommunityRow;
use coves_plugin_community::graphql::COMMUNITY;

use super::COMMUNITY_BLOCK;
use super::block::BlockNode;
use crate::service::{Block, viewer_blocks};

/// Blocks by (viewer DID, community DID).
struct ViewerBlockLoader(AppContext);

impl Loader<(String, String)> for ViewerBlockLoader {
    type Value = Block;
    type Error = LoadError;

    async fn load(&self, pairs: &[(String, String)]) -> Loaded<(String, String), Block> {
        // A request has one viewer; group anyway, as loaders are shared by all requests.
        let mut by_viewer: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (viewer, community) in pairs {
            by_viewer.entry(viewer.as_str()).or_default().push(community.as_str());
        }
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let mut found = HashMap::new();
        for (viewer, communities) in by_viewer {
            let blocks = viewer_blocks(&mut conn, viewer, &communities).await.map_err(load_error)?;
            found.extend(blocks.into_iter().map(|(community, b)| ((viewer.to_owned(), community), b)));
        }
        Ok(found)
    }
}

/// The viewer's block of the parent community; `None` for anonymous requests.
async fn viewer_block(ctx: &ResolverContext<'_>) -> async_graphql::Result<Option<BlockNode>> {
    let Some(viewer) = ctx.data_opt::<Viewer>().and_then(|v| v.did.as_ref()) else { return Ok(None) };
    let actor_did = viewer.as_str().to_owned();
    let community = ctx.parent_value.try_downcast_ref::<CommunityRow>()?.did.clone();
    let block = load_one::<_, ViewerBlockLoader>(ctx, (actor_did.clone(), community)).await?;
    Ok(block.map(|block| BlockNode { actor_did, block }))
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    register_loader(registrar, |app| ViewerBlockLoader(app.clone()));
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
    )
}
