//! GraphQL: the `Comment` type, threads (`Post.comments`, `Comment.replies`) and the
//! comment counters of posts and comments.

mod comment;
mod counts;
mod live;
mod threads;

use coves_plugin_api::{Registrar, RegistrarError};

pub use comment::COMMENT;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    comment::register(registrar)?;
    counts::register(registrar)?;
    live::register(registrar)?;
    threads::register(registrar)
}
