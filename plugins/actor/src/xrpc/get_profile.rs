//! `social.coves.actor.getProfile`: a ProfileViewDetailed.

use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};
use serde_json::{Map, Value, json};

use coves_plugin_api::AppContext;
use coves_plugin_api::identifiers::parse_actor_id;
use coves_plugin_api::images::ImagePreset;

use crate::service::{ActorRow, find_actor};

pub async fn get_profile(req: XrpcRequest) -> XrpcResult {
    let raw = req.params.required("actor")?;
    let id = parse_actor_id(raw)?;
    match find_actor(&req.app, &id).await? {
        Some(actor) => Ok(profile_view(&req.app, &actor)),
        None => Err(ApiError::not_found("ProfileNotFound", format!("profile not found: {raw}"))),
    }
}

/// ProfileViewDetailed: optional keys are omitted, never null; the profile text is sent
/// as both `bio` (mobile) and `description` (web).
fn profile_view(app: &AppContext, actor: &ActorRow) -> Value {
    let mut view = Map::new();
    view.insert("did".into(), actor.did.clone().into());
    view.insert("handle".into(), actor.handle_or_did().into());
    if let Some(name) = &actor.display_name {
        view.insert("displayName".into(), name.clone().into());
    }
    if let Some(avatar) = actor.avatar_url(app, ImagePreset::Avatar) {
        view.insert("avatar".into(), avatar.into());
    }
    if let Some(banner) = actor.banner_url(app) {
        view.insert("banner".into(), banner.into());
    }
    if let Some(bio) = &actor.bio {
        view.insert("bio".into(), bio.clone().into());
        view.insert("description".into(), bio.clone().into());
    }
    view.insert("createdAt".into(), json!(format_datetime(&actor.created_at())));
    Value::Object(view)
}
