//! GraphQL: the `Community` type, `community(id:)` and `communities(...)`.

mod community;
mod live;
mod loader;
mod query_communities;
mod query_community;

use coves_plugin_api::{Registrar, RegistrarError};

pub use community::COMMUNITY;
pub use loader::load_community;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    loader::register(registrar);
    community::register(registrar)?;
    live::register(registrar)?;
    query_community::register(registrar)?;
    query_communities::register(registrar)
}
