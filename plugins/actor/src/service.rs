//! Reads shared by the GraphQL resolvers and the XRPC handlers, so the two agree.

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::prelude::*;
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};
use coves_plugin_api::identifiers::ActorId;
use coves_plugin_api::images::{ImagePreset, blob_url};
use coves_plugin_api::{ApiError, AppContext, Freshness, IdentityError};

use crate::schema::actors;
use coves_plugin_api::ACTIVE_STATUS as ACTIVE;

/// An indexed, active actor.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = actors)]
pub struct ActorRow {
    pub did: String,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_cid: Option<String>,
    pub banner_cid: Option<String>,
    pub pds_endpoint: Option<String>,
    pub profile_created_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub indexed_at: DateTime<Utc>,
}

impl ActorRow {
    /// The profile's `createdAt`, else when the AppView first saw the actor.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.profile_created_at.unwrap_or(self.first_seen_at)
    }

    /// The verified handle, or the DID when none is known (clients link by either).
    pub fn handle_or_did(&self) -> &str {
        self.handle.as_deref().unwrap_or(&self.did)
    }

    /// The absolute URL of the avatar, when there is one and a URL can be made.
    pub fn avatar_url(&self, app: &AppContext, preset: ImagePreset) -> Option<String> {
        let cid = self.avatar_cid.as_deref()?;
        blob_url(&app.instance, self.pds_endpoint.as_deref(), &self.did, cid, preset)
    }

    /// The absolute URL of the banner, when there is one and a URL can be made.
    pub fn banner_url(&self, app: &AppContext) -> Option<String> {
        let cid = self.banner_cid.as_deref()?;
        blob_url(&app.instance, self.pds_endpoint.as_deref(), &self.did, cid, ImagePreset::Banner)
    }
}

/// Finds an active actor by DID.
pub async fn find_actor_by_did(conn: &mut AsyncPgConnection, did: &str) -> QueryResult<Option<ActorRow>> {
    actors::table
        .select(ActorRow::as_select())
        .filter(actors::did.eq(did))
        .filter(actors::status.eq(ACTIVE))
        .first(conn)
        .await
        .optional()
}

/// The active actors among `dids` (any order; unknown or inactive ones are absent).
pub async fn find_actors_by_did(conn: &mut AsyncPgConnection, dids: &[String]) -> QueryResult<Vec<ActorRow>> {
    actors::table
        .select(ActorRow::as_select())
        .filter(actors::did.eq_any(dids))
        .filter(actors::status.eq(ACTIVE))
        .load(conn)
        .await
}

/// Resolves an actor identifier to a DID (§3.3): a DID as given; a handle among the
/// verified handles of known actors, else through identity resolution (verified both
/// ways). `Ok(None)` when the handle does not resolve.
pub async fn resolve_actor(
    app: &AppContext,
    conn: &mut AsyncPgConnection,
    id: &ActorId,
) -> Result<Option<String>, ApiError> {
    let handle = match id {
        ActorId::Did(did) => return Ok(Some(did.as_str().to_owned())),
        ActorId::Handle(handle) => handle,
    };
    let known: Option<String> =
        actors::table.select(actors::did).filter(actors::handle.eq(handle.as_str())).first(conn).await.optional()?;
    if known.is_some() {
        return Ok(known);
    }
    match app.identity.resolve_handle(handle, Freshness::Cached).await {
        Ok(did) => Ok(Some(did.as_str().to_owned())),
        Err(IdentityError::NotFound(_) | IdentityError::Invalid(_)) => Ok(None),
        Err(IdentityError::Unavailable(reason)) => {
            tracing::warn!(%handle, reason, "handle resolution unavailable");
            Err(ApiError::not_ready(format!("could not resolve the handle {handle} right now; retry shortly")))
        }
    }
}

/// Finds an active actor by identifier.
pub async fn find_actor(app: &AppContext, id: &ActorId) -> Result<Option<ActorRow>, ApiError> {
    let mut conn = app.conn().await?;
    match resolve_actor(app, &mut conn, id).await? {
        Some(did) => Ok(find_actor_by_did(&mut conn, &did).await?),
        None => Ok(None),
    }
}
