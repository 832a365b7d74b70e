//! Applying community profile commits and identity events inside the ingest transaction.
//!
//! Idempotent and order-tolerant: each row remembers the repo rev of the last commit
//! applied to it, and an older or equal rev (a replay, or a commit overtaken by a newer
//! one) changes nothing. A delete keeps the row as a tombstone carrying its rev, so a
//! replayed create cannot revive the community.
//!
//! Nothing here touches the network: a created or changed profile is only marked due
//! (`verify_after = now()`), and the background check ([`crate::verify`]) resolves the
//! handle and verifies `hostedBy` outside any ingest transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::sql_query;
use coves_plugin_api::diesel::sql_types::{Array, Bool, Jsonb, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel_async::RunQueryDsl;
use coves_plugin_api::{AccountEvent, CommitEvent, CommitOp, IdentityEvent, IngestTx, store_account_status};
use serde_json::Value;

use crate::record::{CommunityProfile, parse_profile};

/// The newest valid commit per community within a batch.
struct Change<'a> {
    event: &'a CommitEvent,
    /// The record and its CID; `None` for a delete.
    profile: Option<(CommunityProfile, &'a Value, &'a str)>,
}

/// Applies a batch of `social.coves.community.profile` commits: the newest commit (greatest
/// rev) per community wins, written in one statement.
pub async fn apply_profiles(tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
    let mut newest: BTreeMap<&str, Change<'_>> = BTreeMap::new();
    for event in batch {
        if event.rkey.as_str() != "self" {
            tx.skip(event, "unexpected_rkey", "community profiles live at rkey `self`");
            continue;
        }
        let profile = match &event.op {
            CommitOp::Create { record, cid } | CommitOp::Update { record, cid } => match parse_profile(record) {
                Ok(profile) => Some((profile, record.as_ref(), cid.as_str())),
                Err(reason) => {
                    tx.skip(event, "invalid_record", reason);
                    continue;
                }
            },
            CommitOp::Delete => None,
        };
        let did = event.did.as_str();
        if newest.get(did).is_none_or(|c| c.event.rev < event.rev) {
            newest.insert(did, Change { event, profile });
        }
    }
    if newest.is_empty() {
        return Ok(());
    }
    upsert(tx, newest.values()).await
}

async fn upsert<'a>(
    tx: &mut IngestTx<'_>,
    changes: impl ExactSizeIterator<Item = &'a Change<'a>>,
) -> anyhow::Result<()> {
    let n = changes.len();
    let mut did = Vec::with_capacity(n);
    let mut rev = Vec::with_capacity(n);
    let mut deleted = Vec::with_capacity(n);
    let mut name: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut display_name: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut description: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut facets: Vec<Option<&Value>> = Vec::with_capacity(n);
    let mut avatar: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut banner: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut created_by: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut hosted_by: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut visibility: Vec<&str> = Vec::with_capacity(n);
    let mut moderation: Vec<&str> = Vec::with_capacity(n);
    // One JSON array per row: unnest cannot take an array of arrays of differing lengths.
    let mut warnings: Vec<Value> = Vec::with_capacity(n);
    let mut discovery = Vec::with_capacity(n);
    let mut created_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut record: Vec<Option<&Value>> = Vec::with_capacity(n);
    let mut cid: Vec<Option<&str>> = Vec::with_capacity(n);
    for change in changes {
        let event = change.event;
        did.push(event.did.as_str());
        rev.push(event.rev.as_str());
        deleted.push(change.profile.is_none());
        let p = change.profile.as_ref().map(|(p, _, _)| p);
        name.push(p.map(|p| p.name.as_str()));
        display_name.push(p.and_then(|p| p.display_name.as_deref()));
        description.push(p.and_then(|p| p.description.as_deref()));
        facets.push(p.and_then(|p| p.description_facets.as_ref()));
        avatar.push(p.and_then(|p| p.avatar_cid.as_deref()));
        banner.push(p.and_then(|p| p.banner_cid.as_deref()));
        created_by.push(p.map(|p| p.created_by.as_str()));
        hosted_by.push(p.map(|p| p.hosted_by.as_str()));
        visibility.push(p.map_or("public", |p| p.visibility.as_str()));
        moderation.push(p.map_or("moderator", |p| p.moderation_type.as_str()));
        warnings.push(p.map_or_else(|| Value::Array(Vec::new()), |p| p.content_warnings.clone().into()));
        discovery.push(p.is_none_or(|p| p.allow_external_discovery));
        // An absent or unparseable createdAt is the event time, which replays reproduce.
        created_at.push(p.map(|p| p.created_at.unwrap_or_else(|| event_time(event))));
        record.push(change.profile.as_ref().map(|(_, r, _)| *r));
        cid.push(change.profile.as_ref().map(|(_, _, c)| *c));
    }
    // A create or update makes the community due for verification. The verified handle
    // is kept across ordinary updates (the community stays readable while it is checked
    // again), but dropped at once when hostedBy changes or the community was deleted, so
    // an unverified hostedBy is never served. A delete drops the handle and any pending
    // check.
    sql_query(
        "/* community::upsert */ INSERT INTO communities (did, rev, deleted, name, display_name, description, \
           description_facets, avatar_cid, banner_cid, created_by, hosted_by, visibility, moderation_type, \
           content_warnings, allow_external_discovery, created_at, record, cid, verify_after, indexed_at) \
         SELECT b.did, b.rev, b.deleted, b.name, b.display_name, b.description, b.facets, b.avatar, b.banner, \
           b.created_by, b.hosted_by, b.visibility, b.moderation, \
           ARRAY(SELECT jsonb_array_elements_text(b.warnings)), b.discovery, b.created_at, b.record, b.cid, \
           CASE WHEN b.deleted THEN NULL ELSE now() END, now() \
         FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::text[], $6::text[], $7::jsonb[], \
           $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::jsonb[], $15::bool[], \
           $16::timestamptz[], $17::jsonb[], $18::text[]) \
           AS b(did, rev, deleted, name, display_name, description, facets, avatar, banner, created_by, hosted_by, \
             visibility, moderation, warnings, discovery, created_at, record, cid) \
         ON CONFLICT (did) DO UPDATE SET \
           rev = excluded.rev, deleted = excluded.deleted, name = excluded.name, \
           display_name = excluded.display_name, description = excluded.description, \
           description_facets = excluded.description_facets, avatar_cid = excluded.avatar_cid, \
           banner_cid = excluded.banner_cid, created_by = excluded.created_by, hosted_by = excluded.hosted_by, \
           visibility = excluded.visibility, moderation_type = excluded.moderation_type, \
           content_warnings = excluded.content_warnings, \
           allow_external_discovery = excluded.allow_external_discovery, created_at = excluded.created_at, \
           record = excluded.record, cid = excluded.cid, verify_after = excluded.verify_after, \
           handle = CASE WHEN excluded.deleted OR communities.deleted \
             OR communities.hosted_by IS DISTINCT FROM excluded.hosted_by THEN NULL ELSE communities.handle END, \
           verified_at = CASE WHEN excluded.deleted OR communities.deleted \
             OR communities.hosted_by IS DISTINCT FROM excluded.hosted_by THEN NULL ELSE communities.verified_at END, \
           verify_fresh = communities.verify_fresh AND NOT excluded.deleted, \
           rejected_reason = CASE WHEN excluded.deleted THEN NULL ELSE communities.rejected_reason END, \
           indexed_at = now() \
         WHERE communities.rev < excluded.rev",
    )
    .bind::<Array<Text>, _>(&did)
    .bind::<Array<Text>, _>(&rev)
    .bind::<Array<Bool>, _>(&deleted)
    .bind::<Array<Nullable<Text>>, _>(&name)
    .bind::<Array<Nullable<Text>>, _>(&display_name)
    .bind::<Array<Nullable<Text>>, _>(&description)
    .bind::<Array<Nullable<Jsonb>>, _>(&facets)
    .bind::<Array<Nullable<Text>>, _>(&avatar)
    .bind::<Array<Nullable<Text>>, _>(&banner)
    .bind::<Array<Nullable<Text>>, _>(&created_by)
    .bind::<Array<Nullable<Text>>, _>(&hosted_by)
    .bind::<Array<Text>, _>(&visibility)
    .bind::<Array<Text>, _>(&moderation)
    .bind::<Array<Jsonb>, _>(&warnings)
    .bind::<Array<Bool>, _>(&discovery)
    .bind::<Array<Nullable<Timestamptz>>, _>(&created_at)
    .bind::<Array<Nullable<Jsonb>>, _>(&record)
    .bind::<Array<Nullable<Text>>, _>(&cid)
    .execute(tx.conn)
    .await?;
    Ok(())
}

fn event_time(event: &CommitEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(event.time_us).unwrap_or_else(Utc::now)
}

/// Identity events: a known community's handle may have changed, so its check is due
/// again, bypassing identity caches. One statement, whatever the number of events.
pub async fn apply_identity(tx: &mut IngestTx<'_>, events: &[IdentityEvent]) -> anyhow::Result<()> {
    let dids: Vec<&str> = events.iter().map(|e| e.did.as_str()).collect();
    if dids.is_empty() {
        return Ok(());
    }
    sql_query(
        "/* community::identity */ UPDATE communities SET verify_after = now(), verify_fresh = true \
         WHERE did = ANY($1) AND NOT deleted",
    )
    .bind::<Array<Text>, _>(&dids)
    .execute(tx.conn)
    .await?;
    Ok(())
}

/// Records account status changes of community repos (a taken-down or deactivated
/// community is hidden; reactivation shows it again); see [`store_account_status`].
pub async fn apply_account(tx: &mut IngestTx<'_>, events: &[AccountEvent]) -> anyhow::Result<()> {
    store_account_status(tx.conn, "communities", events).await?;
    Ok(())
}
