//! Parameters the actor views share (COVES_API §4.10, §4.11).

use coves_plugin_actor::{find_actor_by_did, resolve_actor};
use coves_plugin_api::diesel_async::AsyncPgConnection;
use coves_plugin_api::identifiers::parse_actor_id;
use coves_plugin_api::{ApiError, QueryParams, XrpcRequest};
use coves_plugin_community::resolve_community_param;

/// `actor` (required): the DID of an active actor; 404 `ActorNotFound` otherwise.
pub async fn actor_param(req: &XrpcRequest, conn: &mut AsyncPgConnection) -> Result<String, ApiError> {
    let raw = req.params.required("actor")?;
    let id = parse_actor_id(raw)?;
    let not_found = || ApiError::not_found("ActorNotFound", format!("actor {raw} not found"));
    let did = resolve_actor(&req.app, conn, &id).await?.ok_or_else(not_found)?;
    find_actor_by_did(conn, &did).await?.ok_or_else(not_found)?;
    Ok(did)
}

/// `community` (optional): the DID of a readable community; 404 `CommunityNotFound` when
/// it names none.
pub async fn community_param(req: &XrpcRequest, conn: &mut AsyncPgConnection) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.params.get("community").map(str::trim).filter(|c| !c.is_empty()) else { return Ok(None) };
    let did = resolve_community_param(conn, raw, &req.app.instance).await?;
    did.map(Some).ok_or_else(|| ApiError::not_found("CommunityNotFound", format!("community {raw} not found")))
}

/// `cursor`, when present and not blank.
pub fn cursor_param(params: &QueryParams) -> Option<&str> {
    params.get("cursor").map(str::trim).filter(|c| !c.is_empty())
}
