//! Batched actor reads for fields of other types (a post's author, a comment's author).

use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::ResolverContext;
use coves_plugin_api::loader::{Loaded, load_error, load_one, register_loader};
use coves_plugin_api::{AppContext, Registrar};

use crate::service::{ActorRow, find_actors_by_did};

/// Active actors by DID.
pub struct ActorLoader(AppContext);

impl Loader<String> for ActorLoader {
    type Value = ActorRow;
    type Error = coves_plugin_api::loader::LoadError;

    async fn load(&self, dids: &[String]) -> Loaded<String, ActorRow> {
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let rows = find_actors_by_did(&mut conn, dids).await.map_err(load_error)?;
        Ok(rows.into_iter().map(|a| (a.did.clone(), a)).collect())
    }
}

pub fn register(registrar: &mut Registrar) {
    register_loader(registrar, |app| ActorLoader(app.clone()));
}

/// The active actor `did`, read in one batch with the other actors the query needs.
pub async fn load_actor(
    ctx: &ResolverContext<'_>,
    did: &str,
) -> coves_plugin_api::async_graphql::Result<Option<ActorRow>> {
    load_one::<_, ActorLoader>(ctx, did.to_owned()).await
}
