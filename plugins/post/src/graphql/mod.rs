//! GraphQL: the `Post` type, `post(uri:)` and `posts(...)`.

mod post;
mod query_post;
mod query_posts;

use coves_plugin_api::{Registrar, RegistrarError};

pub use post::POST;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    post::register(registrar)?;
    query_post::register(registrar)?;
    query_posts::register(registrar)
}
