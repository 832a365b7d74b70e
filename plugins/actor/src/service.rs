//! Reads shared by the GraphQL resolvers and the XRPC handlers, so the two agree.

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::prelude::*;
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};
use coves_plugin_api::syntax::AtIdentifier;

use crate::schema::actors;

/// An indexed actor.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = actors)]
pub struct ActorRow {
    pub did: String,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_cid: Option<String>,
    pub banner_cid: Option<String>,
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
}

/// Finds an actor by DID or (verified, indexed) handle.
pub async fn find_actor(conn: &mut AsyncPgConnection, id: &AtIdentifier) -> QueryResult<Option<ActorRow>> {
    let query = actors::table.select(ActorRow::as_select()).into_boxed();
    let query = match id {
        AtIdentifier::Did(did) => query.filter(actors::did.eq(did.as_str())),
        AtIdentifier::Handle(handle) => query.filter(actors::handle.eq(handle.as_str().to_ascii_lowercase())),
    };
    query.first(conn).await.optional()
}

/// Parses an actor identifier from a request: a DID, a handle, or `@handle`.
pub fn parse_actor_id(raw: &str) -> Result<AtIdentifier, coves_plugin_api::ApiError> {
    let trimmed = raw.trim();
    let candidate = trimmed.strip_prefix('@').unwrap_or(trimmed);
    if candidate.len() <= 2048
        && let Ok(id) = candidate.parse::<AtIdentifier>()
    {
        return Ok(id);
    }
    Err(coves_plugin_api::ApiError::invalid_request(format!(
        "actor {raw:?} must be a DID (did:plc:… or did:web:…) or a handle (alice.example.com or @alice.example.com)"
    )))
}
