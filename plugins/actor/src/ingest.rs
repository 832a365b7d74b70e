//! Applying profile commits. Idempotent and order-tolerant: each row remembers the repo
//! rev of the last commit applied to it, and an older or equal rev (a replay, or an event
//! overtaken by a newer one) changes nothing.

use std::collections::BTreeMap;

use chrono::Utc;
use coves_plugin_api::diesel::prelude::*;
use coves_plugin_api::diesel::query_dsl::methods::FilterDsl;
use coves_plugin_api::diesel::upsert::excluded;
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::{CommitEvent, CommitOp, IngestTx};

use crate::record::{Profile, parse_profile};
use crate::schema::actors;

#[derive(Insertable)]
#[diesel(table_name = actors)]
struct ProfileChange<'a> {
    did: &'a str,
    display_name: Option<String>,
    bio: Option<String>,
    avatar_cid: Option<String>,
    banner_cid: Option<String>,
    profile_created_at: Option<chrono::DateTime<Utc>>,
    profile_record: Option<&'a serde_json::Value>,
    profile_cid: Option<&'a str>,
    profile_rev: &'a str,
    indexed_at: chrono::DateTime<Utc>,
}

/// Applies a batch of `social.coves.actor.profile` commits: the newest commit (greatest
/// rev) per account wins, written in one statement.
pub async fn apply_profiles(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    let mut newest: BTreeMap<&str, ProfileChange<'_>> = BTreeMap::new();
    for event in batch {
        if event.rkey.as_str() != "self" {
            tx.skip(event, "unexpected_rkey", "actor profiles live at rkey `self`");
            continue;
        }
        let change = match &event.op {
            CommitOp::Create { record, cid } | CommitOp::Update { record, cid } => match parse_profile(record) {
                Ok(profile) => ProfileChange::set(event, profile, record, cid),
                Err(reason) => {
                    tx.skip(event, "invalid_record", reason);
                    continue;
                }
            },
            CommitOp::Delete => ProfileChange::cleared(event),
        };
        if newest.get(change.did).is_none_or(|c| c.profile_rev < change.profile_rev) {
            newest.insert(change.did, change);
        }
    }
    if newest.is_empty() {
        return Ok(());
    }
    upsert(tx, &newest.into_values().collect::<Vec<_>>()).await
}

impl<'a> ProfileChange<'a> {
    fn set(event: &'a CommitEvent, p: Profile, record: &'a serde_json::Value, cid: &'a str) -> Self {
        Self {
            did: event.did.as_str(),
            display_name: p.display_name,
            bio: p.bio,
            avatar_cid: p.avatar_cid,
            banner_cid: p.banner_cid,
            profile_created_at: p.created_at,
            profile_record: Some(record),
            profile_cid: Some(cid),
            profile_rev: &event.rev,
            indexed_at: Utc::now(),
        }
    }

    /// A delete clears the profile but keeps the actor (and the rev, so a replayed create
    /// cannot bring the deleted profile back).
    fn cleared(event: &'a CommitEvent) -> Self {
        Self {
            did: event.did.as_str(),
            display_name: None,
            bio: None,
            avatar_cid: None,
            banner_cid: None,
            profile_created_at: None,
            profile_record: None,
            profile_cid: None,
            profile_rev: &event.rev,
            indexed_at: Utc::now(),
        }
    }
}

async fn upsert(tx: &mut IngestTx<'_>, changes: &[ProfileChange<'_>]) -> anyhow::Result<()> {
    diesel::insert_into(actors::table)
        .values(changes)
        .on_conflict(actors::did)
        .do_update()
        .set((
            actors::display_name.eq(excluded(actors::display_name)),
            actors::bio.eq(excluded(actors::bio)),
            actors::avatar_cid.eq(excluded(actors::avatar_cid)),
            actors::banner_cid.eq(excluded(actors::banner_cid)),
            actors::profile_created_at.eq(excluded(actors::profile_created_at)),
            actors::profile_record.eq(excluded(actors::profile_record)),
            actors::profile_cid.eq(excluded(actors::profile_cid)),
            actors::profile_rev.eq(excluded(actors::profile_rev)),
            actors::indexed_at.eq(excluded(actors::indexed_at)),
        ))
        .filter(actors::profile_rev.is_null().or(actors::profile_rev.lt(excluded(actors::profile_rev))))
        .execute(tx.conn)
        .await?;
    Ok(())
}
