//! GraphQL: the `Actor` type and the `actor(id:)` query.

mod actor;
mod loader;
mod query_actor;

pub use actor::ACTOR;
pub use loader::load_actor;

use coves_plugin_api::{Registrar, RegistrarError};

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    loader::register(registrar);
    actor::register(registrar)?;
    query_actor::register(registrar)
}
