//! Batched community reads for fields of other types (a post's community).

use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::ResolverContext;
use coves_plugin_api::loader::{Loaded, load_error, load_one, register_loader};
use coves_plugin_api::{AppContext, Registrar};

use crate::service::{CommunityRow, find_communities};

/// Readable communities by DID.
pub struct CommunityLoader(AppContext);

impl Loader<String> for CommunityLoader {
    type Value = CommunityRow;
    type Error = coves_plugin_api::loader::LoadError;

    async fn load(&self, dids: &[String]) -> Loaded<String, CommunityRow> {
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let dids: Vec<&str> = dids.iter().map(String::as_str).collect();
        let rows = find_communities(&mut conn, &dids).await.map_err(load_error)?;
        Ok(rows.into_iter().map(|c| (c.did.clone(), c)).collect())
    }
}

pub fn register(registrar: &mut Registrar) {
    register_loader(registrar, |app| CommunityLoader(app.clone()));
}

/// The readable community `did`, read in one batch with the others the query needs.
pub async fn load_community(
    ctx: &ResolverContext<'_>,
    did: &str,
) -> coves_plugin_api::async_graphql::Result<Option<CommunityRow>> {
    load_one::<_, CommunityLoader>(ctx, did.to_owned()).await
}
