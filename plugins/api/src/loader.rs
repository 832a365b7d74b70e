//! Batched reads for GraphQL fields ([`DataLoader`]): a field that needs one row per
//! object (an author, a community, vote counts) asks the loader for its key, and the
//! loader reads every key requested in the same moment with one query, so a page costs
//! a constant number of queries whatever its size.
//!
//! Loaders are shared by all requests (schema data) and keep no cache: batching, not
//! caching, is the point, and a read never sees another request's stale value.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::ErrorExtensions;
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::dynamic::ResolverContext;

use crate::context::AppContext;
use crate::error::ApiError;
use crate::graphql::Registrar;

/// What a loader's batch read fails with (shared by every key of the batch).
pub type LoadError = Arc<ApiError>;

/// The result of one batch read.
pub type Loaded<K, V> = Result<HashMap<K, V>, LoadError>;

/// Adds a loader to the schema data, made from the [`AppContext`] at start-up.
pub fn register_loader<K, L>(registrar: &mut Registrar, make: impl FnOnce(&AppContext) -> L + Send + 'static)
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = LoadError>,
{
    registrar.add_data(move |app| DataLoader::new(make(app), tokio::spawn));
}

/// Loads one key through the loader `L` registered with [`register_loader`].
pub async fn load_one<K, L>(ctx: &ResolverContext<'_>, key: K) -> async_graphql::Result<Option<L::Value>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = LoadError>,
{
    let loader = ctx.data::<DataLoader<L>>()?;
    loader.load_one(key).await.map_err(|e| e.extend())
}

/// Maps a database error for a loader.
pub fn load_error(error: impl Into<ApiError>) -> LoadError {
    Arc::new(error.into())
}
