//! `social.coves.actor.getProfile`: a ProfileViewDetailed.

use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::{ApiError, XrpcRequest, XrpcResult};
use serde_json::{Map, Value, json};

use crate::service::{ActorRow, find_actor, parse_actor_id};

pub async fn get_profile(req: XrpcRequest) -> XrpcResult {
    let raw = req.params.required("actor")?;
    let id = parse_actor_id(raw)?;
    let mut conn = req.app.conn().await?;
    match find_actor(&mut conn, &id).await? {
        Some(actor) => Ok(profile_view(&actor)),
        None => Err(ApiError::not_found("ProfileNotFound", format!("profile not found: {raw}"))),
    }
}

/// ProfileViewDetailed: optional keys are omitted, never null; the profile text is sent
/// as both `bio` (mobile) and `description` (web).
fn profile_view(actor: &ActorRow) -> Value {
    let mut view = Map::new();
    view.insert("did".into(), actor.did.clone().into());
    view.insert("handle".into(), actor.handle_or_did().into());
    if let Some(name) = &actor.display_name {
        view.insert("displayName".into(), name.clone().into());
    }
    if let Some(bio) = &actor.bio {
        view.insert("bio".into(), bio.clone().into());
        view.insert("description".into(), bio.clone().into());
    }
    view.insert("createdAt".into(), json!(format_datetime(&actor.created_at())));
    Value::Object(view)
}
