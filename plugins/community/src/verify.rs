//! The background verification of communities: resolves each due community's handle from
//! its DID (verified both ways) and checks `hostedBy` (COVES_API §3.5), outside any ingest
//! transaction (it makes network calls).
//!
//! Rows are claimed with a lease (`verify_after` pushed into the future, `FOR UPDATE SKIP
//! LOCKED`), so several processes can run this task against one database without checking
//! a community twice. A result is stored only while the lease is still the one taken: a
//! profile commit or identity event arriving during the check resets `verify_after`, and
//! the community is simply checked again with the new state.

use std::time::Duration;

use chrono::{DateTime, Utc};
use coves_plugin_api::diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamptz};
use coves_plugin_api::diesel::{QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncConnection, RunQueryDsl};
use coves_plugin_api::syntax::{Did, Handle};
use coves_plugin_api::{AppContext, Freshness, IdentityResolver, TaskContext, poll_rounds};
use futures::StreamExt;

use crate::hosting::{DidWebChecker, Rejection, check_domain};

/// Communities claimed per round.
const BATCH: i32 = 16;
/// Checks in flight at once.
const CONCURRENCY: usize = 4;
/// How long a claim lasts before another process may take the community over.
const LEASE: &str = "2 minutes";
/// Pause between rounds when nothing is due.
const IDLE: Duration = Duration::from_millis(500);
/// When a community is checked again after a definite failure (a fixed did.json or DID
/// document is picked up then, or at the next profile commit or identity event).
const RETRY_INVALID: &str = "5 minutes";
/// ... and after a network failure.
const RETRY_TRANSIENT: &str = "30 seconds";

/// Runs until shutdown.
pub async fn run(ctx: TaskContext) -> anyhow::Result<()> {
    let skip_did_web = ctx.app.instance.skip_did_web_verification;
    if skip_did_web {
        tracing::warn!(
            "SKIP_DID_WEB_VERIFICATION is set: communities' hostedBy is not checked (development only; handles are still verified)"
        );
    }
    let checker = DidWebChecker::new();
    poll_rounds(&ctx.shutdown, IDLE, || async {
        let claimed = claim(&ctx.app).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not claim communities for verification; retrying");
            Vec::new()
        });
        let full = claimed.len() == BATCH as usize;
        futures::stream::iter(claimed)
            .for_each_concurrent(CONCURRENCY, |row| {
                let (checker, app) = (&checker, &ctx.app);
                async move {
                    let outcome = verify(app.identity.as_ref(), checker, &row, skip_did_web).await;
                    record(app, &row, outcome).await;
                }
            })
            .await;
        full
    })
    .await;
    Ok(())
}

/// A community taken for verification.
#[derive(QueryableByName, Debug)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub did: String,
    #[diesel(sql_type = Text)]
    pub hosted_by: String,
    /// Bypass identity caches (an identity event, or a retry after a failure).
    #[diesel(sql_type = Bool)]
    pub fresh: bool,
    #[diesel(sql_type = Timestamptz)]
    pub lease: DateTime<Utc>,
}

async fn claim(app: &AppContext) -> anyhow::Result<Vec<Claimed>> {
    let mut conn = app.conn().await?;
    let rows = sql_query(format!(
        "/* community::verify claim */ UPDATE communities SET verify_after = now() + interval '{LEASE}' \
         WHERE did IN (SELECT did FROM communities WHERE verify_after <= now() AND NOT deleted \
                       ORDER BY verify_after LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING did, hosted_by, verify_fresh OR rejected_reason IS NOT NULL AS fresh, verify_after AS lease"
    ))
    .bind::<Integer, _>(BATCH)
    .load(&mut conn)
    .await?;
    Ok(rows)
}

/// A verified community: its handle and, when its DID document names one, its PDS.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub handle: Handle,
    pub pds_endpoint: Option<String>,
}

/// Verifies one community: the handle its DID claims, verified both ways, then `hostedBy`.
pub async fn verify(
    identity: &dyn IdentityResolver,
    checker: &DidWebChecker,
    row: &Claimed,
    skip_did_web: bool,
) -> Result<Verified, Rejection> {
    let did = Did::new(row.did.as_str()).map_err(|e| Rejection::invalid(format!("stored DID does not parse: {e}")))?;
    let freshness = if row.fresh { Freshness::Fresh } else { Freshness::Cached };
    let handle = identity
        .verified_handle(&did, freshness)
        .await
        .map_err(|e| Rejection::identity("the community's handle could not be verified", &e))?;
    if !skip_did_web {
        let domain = check_domain(handle.as_str(), &row.hosted_by)?;
        checker.check(identity, &domain).await?;
    }
    // The document was just fetched for the handle, so this is a cache hit.
    let pds_endpoint =
        identity.did_document(&did, Freshness::Cached).await.ok().and_then(|document| document.pds_endpoint.clone());
    Ok(Verified { handle, pds_endpoint })
}

/// Stores an outcome (logging and counting it); database failures are logged, and the
/// community is taken up again when its lease runs out.
async fn record(app: &AppContext, row: &Claimed, outcome: Result<Verified, Rejection>) {
    let label = match &outcome {
        Ok(_) => "verified",
        Err(r) if r.transient => "unavailable",
        Err(_) => "rejected",
    };
    metrics::counter!("community_verifications_total", "outcome" => label).increment(1);
    match &outcome {
        Ok(verified) => tracing::debug!(did = row.did, handle = %verified.handle, "community verified"),
        Err(rejection) => {
            tracing::warn!(
                did = row.did,
                hosted_by = row.hosted_by,
                reason = rejection.reason,
                transient = rejection.transient,
                "community not verified"
            );
        }
    }
    if let Err(e) = store(app, row, outcome).await {
        tracing::warn!(did = row.did, error = %e, "could not store a community verification; it will be retried");
    }
}

/// The lease was taken over by a newer change: the success transaction is rolled back and
/// nothing is stored.
#[derive(Debug)]
struct Superseded;

impl std::fmt::Display for Superseded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the community changed during the check")
    }
}

impl std::error::Error for Superseded {}

async fn store(app: &AppContext, row: &Claimed, outcome: Result<Verified, Rejection>) -> anyhow::Result<()> {
    let mut conn = app.conn().await?;
    match outcome {
        Ok(Verified { handle, pds_endpoint }) => {
            let handle = handle.as_str().to_ascii_lowercase();
            let result = conn
                .transaction::<_, anyhow::Error, _>(async |conn| {
                    // A handle names one community: one that held it before has moved or
                    // lost it, so it is hidden and checked again.
                    sql_query(
                        "/* community::verify handle moved */ UPDATE communities \
                         SET handle = NULL, verified_at = NULL, verify_after = now() \
                         WHERE handle = $1 AND did <> $2",
                    )
                    .bind::<Text, _>(&handle)
                    .bind::<Text, _>(&row.did)
                    .execute(conn)
                    .await?;
                    let updated = sql_query(
                        "/* community::verify verified */ UPDATE communities SET handle = $2, pds_endpoint = $3, \
                           verified_at = now(), verify_after = NULL, verify_fresh = false, rejected_reason = NULL \
                         WHERE did = $1 AND verify_after = $4 AND NOT deleted",
                    )
                    .bind::<Text, _>(&row.did)
                    .bind::<Text, _>(&handle)
                    .bind::<Nullable<Text>, _>(pds_endpoint)
                    .bind::<Timestamptz, _>(row.lease)
                    .execute(conn)
                    .await?;
                    if updated == 0 {
                        return Err(Superseded.into());
                    }
                    Ok(())
                })
                .await;
            match result {
                Err(e) if e.is::<Superseded>() => Ok(()),
                other => other,
            }
        }
        Err(rejection) => {
            // A definite failure hides the community. A network failure keeps a handle
            // verified earlier (a flaky directory must not hide communities) and retries
            // soon; a changed hostedBy already cleared the handle at ingest.
            let retry = if rejection.transient { RETRY_TRANSIENT } else { RETRY_INVALID };
            sql_query(format!(
                "/* community::verify rejected */ UPDATE communities SET \
                   handle = CASE WHEN $2 THEN handle END, verified_at = CASE WHEN $2 THEN verified_at END, \
                   rejected_reason = $3, verify_fresh = false, verify_after = now() + interval '{retry}' \
                 WHERE did = $1 AND verify_after = $4"
            ))
            .bind::<Text, _>(&row.did)
            .bind::<Bool, _>(rejection.transient)
            .bind::<Text, _>(&rejection.reason)
            .bind::<Timestamptz, _>(row.lease)
            .execute(&mut conn)
            .await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use coves_plugin_api::{DidDocument, IdentityError};
    use serde_json::json;

    use super::*;

    /// DID documents and handle claims from maps.
    #[derive(Default)]
    struct FakeIdentity {
        documents: BTreeMap<String, serde_json::Value>,
        handles: BTreeMap<String, String>,
        unavailable: bool,
    }

    #[async_trait::async_trait]
    impl IdentityResolver for FakeIdentity {
        async fn did_document(&self, did: &Did, _: Freshness) -> Result<Arc<DidDocument>, IdentityError> {
            if self.unavailable {
                return Err(IdentityError::Unavailable("directory down".into()));
            }
            let document = self.documents.get(did.as_str()).ok_or_else(|| IdentityError::NotFound(did.to_string()))?;
            DidDocument::parse(did, document).map(Arc::new)
        }
        async fn resolve_handle(&self, handle: &Handle, _: Freshness) -> Result<Did, IdentityError> {
            let did = self.handles.get(handle.as_str()).ok_or_else(|| IdentityError::NotFound(handle.to_string()))?;
            Did::new(did.as_str()).map_err(|e| IdentityError::Invalid(e.to_string()))
        }
        async fn forget(&self, _: &Did) {}
    }

    const COMMUNITY: &str = "did:plc:community23456789abcdefgh";

    fn network(instance_claims_itself: bool) -> FakeIdentity {
        let mut fake = FakeIdentity::default();
        fake.documents.insert(
            COMMUNITY.into(),
            json!({
                "id": COMMUNITY,
                "alsoKnownAs": ["at://c-gaming.coves.social"],
                "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.coves.social"}]
            }),
        );
        fake.handles.insert("c-gaming.coves.social".into(), COMMUNITY.into());
        let aka = if instance_claims_itself { vec!["at://coves.social"] } else { vec![] };
        fake.documents.insert("did:web:coves.social".into(), json!({"id": "did:web:coves.social", "alsoKnownAs": aka}));
        fake
    }

    fn claimed(hosted_by: &str) -> Claimed {
        Claimed { did: COMMUNITY.into(), hosted_by: hosted_by.into(), fresh: false, lease: Utc::now() }
    }

    #[tokio::test]
    async fn verifies_handle_and_hosting() {
        let verified = verify(&network(true), &DidWebChecker::new(), &claimed("did:web:coves.social"), false)
            .await
            .expect("verified");
        assert_eq!(verified.handle.as_str(), "c-gaming.coves.social");
        assert_eq!(verified.pds_endpoint.as_deref(), Some("https://pds.coves.social"));
    }

    #[tokio::test]
    async fn rejects_a_did_json_without_the_instance_handle_unless_skipped() {
        let fake = network(false);
        let rejection =
            verify(&fake, &DidWebChecker::new(), &claimed("did:web:coves.social"), false).await.expect_err("rejected");
        assert!(rejection.reason.contains("does not list at://coves.social"), "{rejection:?}");
        assert!(!rejection.transient);
        assert!(verify(&fake, &DidWebChecker::new(), &claimed("did:web:coves.social"), true).await.is_ok());
    }

    #[tokio::test]
    async fn the_skip_flag_bypasses_the_whole_hosted_by_check() {
        let checker = DidWebChecker::new();
        let rejection =
            verify(&network(true), &checker, &claimed("did:web:nintendo.com"), false).await.expect_err("rejected");
        assert!(rejection.reason.contains("not under the hostedBy domain"), "{rejection:?}");
        assert!(verify(&network(true), &checker, &claimed("did:web:nintendo.com"), true).await.is_ok());
    }

    #[tokio::test]
    async fn identity_failures_say_whether_to_retry_soon() {
        let mut fake = network(true);
        fake.handles.clear();
        let rejection =
            verify(&fake, &DidWebChecker::new(), &claimed("did:web:coves.social"), false).await.expect_err("no handle");
        assert!(!rejection.transient && rejection.reason.contains("handle could not be verified"), "{rejection:?}");
        fake.unavailable = true;
        let rejection =
            verify(&fake, &DidWebChecker::new(), &claimed("did:web:coves.social"), false).await.expect_err("down");
        assert!(rejection.transient, "{rejection:?}");
    }
}
