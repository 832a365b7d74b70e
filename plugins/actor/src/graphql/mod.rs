//! GraphQL: the `Actor` type and the `actor(id:)` query.

mod actor;
mod query_actor;

use coves_plugin_api::{Registrar, RegistrarError};

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    actor::register(registrar)?;
    query_actor::register(registrar)
}
