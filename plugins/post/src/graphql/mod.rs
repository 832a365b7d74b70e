//! GraphQL: the `Post` type, `post(uri:)` and `posts(...)`.

mod loader;
mod post;
mod query_post;
mod query_posts;

use coves_plugin_api::{Registrar, RegistrarError};

pub use loader::load_post;
pub use post::{POST, node};

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    loader::register(registrar);
    post::register(registrar)?;
    query_post::register(registrar)?;
    query_posts::register(registrar)
}
