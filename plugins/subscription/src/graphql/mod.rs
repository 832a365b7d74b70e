//! GraphQL: the `CommunitySubscription` type, `Community.viewerSubscription` (batched) and
//! `Actor.subscriptions` (shown to that actor only).

mod subscription;
mod subscriptions;
mod viewer_subscription;

use coves_plugin_api::{Registrar, RegistrarError};

pub use subscription::COMMUNITY_SUBSCRIPTION;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    subscription::register(registrar)?;
    viewer_subscription::register(registrar)?;
    subscriptions::register(registrar)
}
