//! GraphQL: the `CommunityBlock` type, `Community.viewerBlocked` and `.viewerBlock`
//! (batched) and `Actor.blockedCommunities` (shown to that actor only).

mod block;
mod blocked_communities;
mod viewer_block;

use coves_plugin_api::{Registrar, RegistrarError};

pub use block::COMMUNITY_BLOCK;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    block::register(registrar)?;
    viewer_block::register(registrar)?;
    blocked_communities::register(registrar)
}
