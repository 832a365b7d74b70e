//! `hostedBy` verification (COVES_API §3.5).
//!
//! 1. `hostedBy` is `did:web:{webDomain}` (a bare domain: no port, no path);
//! 2. the community's handle equals `webDomain` or ends in `.{webDomain}`, and `webDomain`
//!    is not a public suffix (Public Suffix List, private section included);
//! 3. `https://{webDomain}/.well-known/did.json` names `hostedBy` as its `id` and lists
//!    `at://{webDomain}` in `alsoKnownAs` (the instance's own handle: its did.json cannot
//!    list every community);
//! 4. step 3's outcome is cached per `webDomain` (success 24 h, failure 5 min, at most
//!    1,000 domains) and the fetches are rate limited (10/s, bursts of 20).
//!
//! Steps 1–2 are pure ([`check_domain`]); [`DidWebChecker`] does steps 3–4 through the
//! server's identity resolver. A development setting skips steps 3–4.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coves_plugin_api::syntax::{Did, Handle};
use coves_plugin_api::{Freshness, IdentityError, IdentityResolver};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::Expiry;
use moka::future::Cache;

/// How long a verified `webDomain` stays verified.
pub const SUCCESS_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a failed `webDomain` check is remembered.
pub const FAILURE_TTL: Duration = Duration::from_secs(5 * 60);
/// Most domains cached.
const CACHE_CAPACITY: u64 = 1_000;
/// Sustained did.json fetches per second, and the burst allowed.
const RATE_PER_SECOND: u32 = 10;
const BURST: u32 = 20;
/// Longest wait for one did.json.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a community failed verification, and whether retrying soon may help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// `true` when the failure was the network's or a remote service's (retry soon).
    pub transient: bool,
    /// What is wrong, for logs and `rejected_reason`.
    pub reason: String,
}

impl Rejection {
    /// A definite failure: the data is wrong.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self { transient: false, reason: reason.into() }
    }

    /// The outcome of a failed identity lookup, with what was being looked up.
    pub fn identity(what: &str, error: &IdentityError) -> Self {
        Self { transient: matches!(error, IdentityError::Unavailable(_)), reason: format!("{what}: {error}") }
    }
}

/// Steps 1–2: the `webDomain` of `hosted_by` if it may host a community with `handle`.
pub fn check_domain(handle: &str, hosted_by: &str) -> Result<String, Rejection> {
    let Some(domain) = hosted_by.strip_prefix("did:web:") else {
        return Err(Rejection::invalid(format!("hostedBy {hosted_by:?} is not a did:web")));
    };
    let domain = domain.to_ascii_lowercase();
    if domain.contains(':') || domain.contains('%') || Handle::new(domain.as_str()).is_err() {
        return Err(Rejection::invalid(format!(
            "hostedBy {hosted_by:?} must name a bare domain (no port, no path) of an instance"
        )));
    }
    let handle = handle.to_ascii_lowercase();
    let under = handle == domain || handle.strip_suffix(domain.as_str()).is_some_and(|head| head.ends_with('.'));
    if !under {
        return Err(Rejection::invalid(format!(
            "handle {handle} is not under the hostedBy domain {domain} (it must equal it or end in .{domain})"
        )));
    }
    if psl::suffix_str(&domain) == Some(domain.as_str()) {
        return Err(Rejection::invalid(format!(
            "hostedBy domain {domain} is a public suffix, which no single instance may claim"
        )));
    }
    Ok(domain)
}

/// Step 3, uncached: `did:web:{domain}`'s document claims `at://{domain}`.
async fn fetch(identity: &dyn IdentityResolver, domain: &str) -> Result<(), Rejection> {
    let did = Did::new(format!("did:web:{domain}"))
        .map_err(|e| Rejection::invalid(format!("did:web:{domain} is not a valid DID ({e})")))?;
    let what = format!("https://{domain}/.well-known/did.json");
    // The per-domain cache below decides how long an answer lasts, so go to the network.
    let document = match tokio::time::timeout(FETCH_TIMEOUT, identity.did_document(&did, Freshness::Fresh)).await {
        Ok(Ok(document)) => document,
        Ok(Err(error)) => return Err(Rejection::identity(&what, &error)),
        Err(_) => return Err(Rejection { transient: true, reason: format!("{what}: no answer within 10 s") }),
    };
    if document.did != did {
        return Err(Rejection::invalid(format!("{what} names {} instead of {did}", document.did)));
    }
    if !document.claims_handle(domain) {
        return Err(Rejection::invalid(format!("{what} does not list at://{domain} in alsoKnownAs")));
    }
    Ok(())
}

/// Cache entries live 24 h after a success and 5 min after a failure.
struct ByOutcome;

impl Expiry<String, Result<(), Rejection>> for ByOutcome {
    fn expire_after_create(&self, _: &String, value: &Result<(), Rejection>, _: Instant) -> Option<Duration> {
        Some(if value.is_ok() { SUCCESS_TTL } else { FAILURE_TTL })
    }
}

/// Steps 3–4: did.json checks, cached per domain and rate limited. One per verifying task.
pub struct DidWebChecker {
    cache: Cache<String, Result<(), Rejection>>,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl Default for DidWebChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl DidWebChecker {
    /// An empty cache and a full rate-limit bucket.
    pub fn new() -> Self {
        let rate = NonZeroU32::new(RATE_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        Self {
            cache: Cache::builder().max_capacity(CACHE_CAPACITY).expire_after(ByOutcome).build(),
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))),
        }
    }

    /// Whether `domain` serves a did.json for `did:web:{domain}` claiming `at://{domain}`.
    /// Concurrent checks of one domain share one fetch.
    pub async fn check(&self, identity: &dyn IdentityResolver, domain: &str) -> Result<(), Rejection> {
        let limiter = self.limiter.clone();
        self.cache
            .get_with(domain.to_owned(), async move {
                limiter.until_ready().await;
                fetch(identity, domain).await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use coves_plugin_api::DidDocument;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_contract_examples() {
        assert_eq!(check_domain("c-gaming.coves.social", "did:web:coves.social"), Ok("coves.social".to_owned()));
        assert_eq!(check_domain("c-gaming.coves.co.uk", "did:web:coves.co.uk"), Ok("coves.co.uk".to_owned()));
        let suffix = check_domain("c-gaming.coves.co.uk", "did:web:co.uk").expect_err("public suffix");
        assert!(suffix.reason.contains("public suffix") && !suffix.transient, "{suffix:?}");
        assert_eq!(check_domain("c-gaming.test.example.com", "did:web:example.com"), Ok("example.com".to_owned()));
        let other = check_domain("c-gaming.coves.social", "did:web:nintendo.com").expect_err("other domain");
        assert!(other.reason.contains("not under the hostedBy domain nintendo.com"), "{other:?}");
    }

    #[test]
    fn domain_edge_cases() {
        // Sub-domain instances (the Go AppView refused them).
        assert!(check_domain("c-test.dev.coves.social", "did:web:dev.coves.social").is_ok());
        // The handle may be the domain itself; case does not matter.
        assert!(check_domain("coves.social", "did:web:Coves.Social").is_ok());
        // A suffix match must fall on a label boundary.
        assert!(check_domain("c-gaming.evilcoves.social", "did:web:coves.social").is_err());
        // Private-section suffixes and bare TLDs are suffixes too.
        assert!(check_domain("c-x.alice.github.io", "did:web:github.io").is_err());
        assert!(check_domain("c-x.test", "did:web:test").is_err());
        // Ports and paths are not instances' domains.
        assert!(check_domain("c-x.coves.social", "did:web:coves.social%3A8443").is_err());
        assert!(check_domain("c-x.coves.social", "did:web:coves.social:communities").is_err());
        assert!(check_domain("c-x.coves.social", "did:plc:ewvi7nxzyoun6zhxrhs64oiz").is_err());
        assert!(check_domain("c-x.coves.test", "did:web:coves.test").is_ok(), "test instances");
    }

    /// A resolver answering did:web documents from a map, counting fetches.
    #[derive(Default)]
    struct FakeWeb {
        documents: Mutex<BTreeMap<String, Result<serde_json::Value, IdentityError>>>,
        fetches: Mutex<usize>,
    }

    #[async_trait::async_trait]
    impl IdentityResolver for FakeWeb {
        async fn did_document(&self, did: &Did, _: Freshness) -> Result<Arc<DidDocument>, IdentityError> {
            *self.fetches.lock().expect("lock") += 1;
            let answer = self.documents.lock().expect("lock").get(did.as_str()).cloned();
            match answer {
                Some(Ok(document)) => DidDocument::parse(did, &document).map(Arc::new),
                Some(Err(error)) => Err(error),
                None => Err(IdentityError::NotFound(format!("{did}: 404"))),
            }
        }
        async fn resolve_handle(&self, handle: &Handle, _: Freshness) -> Result<Did, IdentityError> {
            Err(IdentityError::NotFound(handle.to_string()))
        }
        async fn forget(&self, _: &Did) {}
    }

    impl FakeWeb {
        fn serve(&self, domain: &str, document: Result<serde_json::Value, IdentityError>) {
            self.documents.lock().expect("lock").insert(format!("did:web:{domain}"), document);
        }
        fn fetches(&self) -> usize {
            *self.fetches.lock().expect("lock")
        }
    }

    #[tokio::test]
    async fn did_json_must_claim_the_domain_and_answers_are_cached() {
        let web = FakeWeb::default();
        web.serve("coves.social", Ok(json!({"id": "did:web:coves.social", "alsoKnownAs": ["at://coves.social"]})));
        web.serve("bare.example", Ok(json!({"id": "did:web:bare.example", "alsoKnownAs": []})));
        web.serve("other.example", Ok(json!({"id": "did:web:someone.else", "alsoKnownAs": ["at://other.example"]})));
        web.serve("down.example", Err(IdentityError::Unavailable("connection refused".into())));
        let checker = DidWebChecker::new();

        assert_eq!(checker.check(&web, "coves.social").await, Ok(()));
        assert_eq!(checker.check(&web, "coves.social").await, Ok(()));
        assert_eq!(web.fetches(), 1, "the success is cached");

        let missing = checker.check(&web, "bare.example").await.expect_err("no at:// claim");
        assert!(missing.reason.contains("does not list at://bare.example in alsoKnownAs") && !missing.transient);
        let wrong = checker.check(&web, "other.example").await.expect_err("wrong id");
        assert!(wrong.reason.contains("not the resolved DID"), "{wrong:?}");
        let down = checker.check(&web, "down.example").await.expect_err("unavailable");
        assert!(down.transient, "{down:?}");
        let absent = checker.check(&web, "absent.example").await.expect_err("404");
        assert!(!absent.transient && absent.reason.contains("https://absent.example/.well-known/did.json"));

        let fetches = web.fetches();
        assert!(checker.check(&web, "bare.example").await.is_err());
        assert_eq!(web.fetches(), fetches, "failures are cached too");
    }
}
