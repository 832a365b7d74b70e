//! GraphQL: the `Community` type, `community(id:)` and `communities(...)`.

mod community;
mod query_communities;
mod query_community;

use coves_plugin_api::{Registrar, RegistrarError};

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    community::register(registrar)?;
    query_community::register(registrar)?;
    query_communities::register(registrar)
}
