//! Batched post reads for fields of other types (a comment's post).

use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::ResolverContext;
use coves_plugin_api::graphql::RecordNode;
use coves_plugin_api::loader::{Loaded, load_error, load_one, register_loader};
use coves_plugin_api::{AppContext, Registrar};

use super::post::node;
use crate::service::{PostRow, find_posts};

/// Readable posts by URI.
pub struct PostLoader(AppContext);

impl Loader<String> for PostLoader {
    type Value = PostRow;
    type Error = coves_plugin_api::loader::LoadError;

    async fn load(&self, uris: &[String]) -> Loaded<String, PostRow> {
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
        let rows = find_posts(&mut conn, &uris).await.map_err(load_error)?;
        Ok(rows.into_iter().map(|p| (p.uri.clone(), p)).collect())
    }
}

pub fn register(registrar: &mut Registrar) {
    register_loader(registrar, |app| PostLoader(app.clone()));
}

/// The readable post `uri` as a `Post` parent value, read in one batch with the others
/// the query needs.
pub async fn load_post(
    ctx: &ResolverContext<'_>,
    uri: &str,
) -> coves_plugin_api::async_graphql::Result<Option<RecordNode>> {
    Ok(load_one::<_, PostLoader>(ctx, uri.to_owned()).await?.map(node))
}
