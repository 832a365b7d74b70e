//! The identity resolver against a fake outside network (PLC directory, resolveHandle,
//! HTTPS hosts under a test CA, DNS) and a real PostgreSQL: resolution, bidirectional
//! verification, the memory and PostgreSQL caches, coalescing, freshness and limits.

use std::sync::Arc;

use coves_appview::identity::{IdentityConfig, Resolver};
use coves_plugin_api::syntax::{Did, Handle};
use coves_plugin_api::{DbPool, Freshness, IdentityError, IdentityResolver};
use coves_tests::TestApp;
use coves_tests::TestDb;
use coves_tests::network::{FakeNetwork, FakeResponse, TEST_PDS, did_document, random_plc_did, random_signing_key};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde_json::json;

/// A resolver over a fresh database and its own fake network.
struct Harness {
    _db: TestDb,
    pool: DbPool,
    network: FakeNetwork,
    resolver: Arc<Resolver>,
}

impl Harness {
    /// Handles through the network's resolveHandle service (as `TestApp` does).
    async fn start() -> Self {
        Self::with(FakeNetwork::identity_config).await
    }

    /// Handles by DNS TXT and HTTPS well-known, as without `HANDLE_RESOLVER_URL`.
    async fn without_handle_resolver() -> Self {
        Self::with(FakeNetwork::identity_config_without_handle_resolver).await
    }

    async fn with(config: fn(&FakeNetwork) -> IdentityConfig) -> Self {
        let db = TestDb::new().await;
        let pool = coves_appview::db::connect(db.url(), 4, std::time::Duration::from_secs(5)).expect("pool");
        let network = FakeNetwork::start().await;
        let resolver = Resolver::new(config(&network), pool.clone()).expect("resolver");
        Self { _db: db, pool, network, resolver }
    }

    /// A second resolver (an empty memory cache, as after a restart) over the same database.
    fn restarted(&self) -> Arc<Resolver> {
        Resolver::new(self.network.identity_config(), self.pool.clone()).expect("resolver")
    }

    async fn persisted_rows(&self, table: &str, column: &str, value: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.pool.get().await.expect("connection");
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table} WHERE {column} = $1"))
            .bind::<Text, _>(value)
            .get_result::<Count>(&mut conn)
            .await
            .expect("count rows")
            .n
    }
}

fn handle(s: &str) -> Handle {
    Handle::new(s).expect("valid handle")
}

#[tokio::test]
async fn did_plc_resolves_to_its_handle_pds_and_signing_key() {
    let h = Harness::start().await;
    let key = random_signing_key();
    let alice = h.network.add_plc_identity("alice.coves.test", &key);

    let document = h.resolver.did_document(&alice.did, Freshness::Cached).await.expect("resolves");
    assert_eq!(document.did, alice.did);
    assert_eq!(document.handle(), Some(handle("alice.coves.test")));
    assert_eq!(document.pds_endpoint.as_deref(), Some(TEST_PDS));
    assert_eq!(document.signing_key.as_deref(), Some(key.as_str()));
    assert!(key.starts_with("zQ3s"), "a secp256k1 multikey: {key}");
    assert_eq!(h.network.plc_requests(&alice.did), 1);

    let verified = h.resolver.verified_handle(&alice.did, Freshness::Cached).await.expect("verified both ways");
    assert_eq!(verified, handle("alice.coves.test"));
}

#[tokio::test]
async fn did_web_resolves_over_https() {
    let h = Harness::start().await;
    let community = h.network.add_web_identity("gardening.coves.test", &random_signing_key());
    assert_eq!(community.did.as_str(), "did:web:gardening.coves.test");

    let document = h.resolver.did_document(&community.did, Freshness::Cached).await.expect("resolves over TLS");
    assert_eq!(document.handle(), Some(handle("gardening.coves.test")));
    assert_eq!(h.network.https_requests("gardening.coves.test", "/.well-known/did.json"), 1);
}

#[tokio::test]
async fn a_did_web_host_answering_for_another_did_is_refused() {
    let h = Harness::start().await;
    let elsewhere = random_plc_did();
    h.network.put_did_web_document(
        "impostor.coves.test",
        &did_document(&elsewhere, "impostor.coves.test", &random_signing_key(), TEST_PDS),
    );
    let did = Did::new("did:web:impostor.coves.test").expect("DID");
    let error = h.resolver.did_document(&did, Freshness::Cached).await.expect_err("wrong id");
    assert!(matches!(&error, IdentityError::Invalid(m) if m.contains("not the resolved DID")), "{error}");
}

#[tokio::test]
async fn handles_resolve_through_the_configured_resolver() {
    let h = Harness::start().await;
    let bob = h.network.add_plc_identity("bob.coves.test", &random_signing_key());

    let did = h.resolver.resolve_handle(&handle("Bob.Coves.TEST"), Freshness::Cached).await.expect("resolves");
    assert_eq!(did, bob.did);
    assert_eq!(h.network.resolver_requests("bob.coves.test"), 1);
    assert_eq!(h.network.plc_requests(&bob.did), 1, "the DID document is checked for the handle");
    assert_eq!(h.network.total_requests(), 2, "no DNS or HTTPS when a resolver is configured");

    let unknown = h.resolver.resolve_handle(&handle("nobody.coves.test"), Freshness::Cached).await;
    assert!(matches!(unknown, Err(IdentityError::NotFound(_))), "{unknown:?}");
}

#[tokio::test]
async fn handles_resolve_over_https_well_known_when_dns_has_no_record() {
    let h = Harness::without_handle_resolver().await;
    let carol = h.network.add_plc_identity("carol.coves.test", &random_signing_key());

    let did = h.resolver.resolve_handle(&carol.handle, Freshness::Cached).await.expect("resolves");
    assert_eq!(did, carol.did);
    assert_eq!(h.network.dns_queries("_atproto.carol.coves.test"), 1, "DNS is asked first");
    assert_eq!(h.network.https_requests("carol.coves.test", "/.well-known/atproto-did"), 1);
    assert_eq!(h.network.resolver_requests("carol.coves.test"), 0);
}

#[tokio::test]
async fn handles_resolve_by_dns_txt() {
    let h = Harness::without_handle_resolver().await;
    let dave = h.network.add_plc_identity("dave.coves.test", &random_signing_key());
    h.network.remove_handle("dave.coves.test");
    h.network.set_handle_dns("dave.coves.test", &dave.did);

    let did = h.resolver.resolve_handle(&dave.handle, Freshness::Cached).await.expect("resolves by DNS");
    assert_eq!(did, dave.did);
    assert_eq!(h.network.dns_queries("_atproto.dave.coves.test"), 1);
    assert_eq!(h.network.https_requests("dave.coves.test", "/.well-known/atproto-did"), 0, "DNS answered");

    h.network
        .set_txt("_atproto.eve.coves.test", vec![format!("did={}", dave.did), format!("did={}", random_plc_did())]);
    let conflict = h.resolver.resolve_handle(&handle("eve.coves.test"), Freshness::Cached).await;
    assert!(matches!(&conflict, Err(IdentityError::Invalid(m)) if m.contains("different DIDs")), "{conflict:?}");
}

#[tokio::test]
async fn a_handle_the_did_document_does_not_claim_is_refused() {
    let h = Harness::start().await;
    let alice = h.network.add_plc_identity("alice.coves.test", &random_signing_key());
    // mallory's handle points at alice's DID, but alice's document does not claim it.
    h.network.set_handle("mallory.coves.test", &alice.did);

    let error = h.resolver.resolve_handle(&handle("mallory.coves.test"), Freshness::Cached).await.expect_err("refused");
    assert!(matches!(&error, IdentityError::Invalid(m) if m.contains("does not claim")), "{error}");
    assert_eq!(h.network.plc_requests(&alice.did), 1, "the document was checked");
    assert_eq!(h.persisted_rows("identity_handles", "handle", "mallory.coves.test").await, 0);

    let requests = h.network.total_requests();
    let again = h.resolver.resolve_handle(&handle("mallory.coves.test"), Freshness::Cached).await;
    assert_eq!(again, Err(error), "the verdict is remembered briefly");
    assert_eq!(h.network.total_requests(), requests);
}

#[tokio::test]
async fn a_second_lookup_is_a_cache_hit_without_network_calls() {
    let h = Harness::start().await;
    let alice = h.network.add_plc_identity("alice.coves.test", &random_signing_key());
    let first = h.resolver.did_document(&alice.did, Freshness::Cached).await.expect("resolves");
    h.resolver.resolve_handle(&alice.handle, Freshness::Cached).await.expect("resolves");
    let requests = h.network.total_requests();
    assert_eq!(requests, 2, "one PLC request, one resolveHandle request");

    let second = h.resolver.did_document(&alice.did, Freshness::Cached).await.expect("cached");
    assert!(Arc::ptr_eq(&first, &second), "the same cached document");
    assert_eq!(h.resolver.resolve_handle(&alice.handle, Freshness::Cached).await, Ok(alice.did.clone()));
    assert_eq!(h.resolver.verified_handle(&alice.did, Freshness::Cached).await, Ok(alice.handle.clone()));
    assert_eq!(h.network.total_requests(), requests, "cache hits make no network call");
}

#[tokio::test]
async fn fifty_concurrent_lookups_of_one_did_make_one_request() {
    let h = Harness::start().await;
    let alice = h.network.add_plc_identity("alice.coves.test", &random_signing_key());
    let lookups = (0..50).map(|_| {
        let resolver = h.resolver.clone();
        let did = alice.did.clone();
        tokio::spawn(async move { resolver.did_document(&did, Freshness::Cached).await })
    });
    for answer in futures::future::join_all(lookups).await {
        assert_eq!(answer.expect("task").expect("resolves").did, alice.did);
    }
    assert_eq!(h.network.plc_requests(&alice.did), 1);

    // Fresh lookups skip the caches, but concurrent ones still share one request.
    let fresh = (0..10).map(|_| h.resolver.did_document(&alice.did, Freshness::Fresh));
    for answer in futures::future::join_all(fresh).await {
        assert_eq!(answer.expect("resolves").did, alice.did);
    }
    assert_eq!(h.network.plc_requests(&alice.did), 2);
}

#[tokio::test]
async fn a_restarted_resolver_answers_from_postgresql() {
    let h = Harness::start().await;
    let alice = h.network.add_plc_identity("alice.coves.test", &random_signing_key());
    h.resolver.verified_handle(&alice.did, Freshness::Cached).await.expect("resolves");
    assert_eq!(h.persisted_rows("identity_did_documents", "did", alice.did.as_str()).await, 1);
    assert_eq!(h.persisted_rows("identity_handles", "handle", "alice.coves.test").await, 1);
    let requests = h.network.total_requests();

    let restarted = h.restarted();
    let document = restarted.did_document(&alice.did, Freshness::Cached).await.expect("from PostgreSQL");
    assert_eq!(document.handle(), Some(alice.handle.clone()));
    assert_eq!(restarted.resolve_handle(&alice.handle, Freshness::Cached).await, Ok(alice.did.clone()));
    assert_eq!(h.network.total_requests(), requests, "a warm restart makes no network call");
}

#[tokio::test]
async fn fresh_lookups_go_to_the_network_and_update_the_caches() {
    let h = Harness::start().await;
    let alice = h.network.add_plc_identity("alice.coves.test", &random_signing_key());
    h.resolver.verified_handle(&alice.did, Freshness::Cached).await.expect("resolves");
    let alice = h.network.change_handle(&alice, "alice2.coves.test");

    let stale = h.resolver.did_document(&alice.did, Freshness::Cached).await.expect("cached");
    assert_eq!(stale.handle(), Some(handle("alice.coves.test")), "the cache still holds the old document");

    let before = h.network.plc_requests(&alice.did);
    let fresh = h.resolver.verified_handle(&alice.did, Freshness::Fresh).await.expect("resolves");
    assert_eq!(fresh, handle("alice2.coves.test"));
    assert_eq!(h.network.plc_requests(&alice.did), before + 1, "one fetch serves the document and the check");
    assert_eq!(h.network.resolver_requests("alice2.coves.test"), 1);

    let requests = h.network.total_requests();
    let cached = h.resolver.did_document(&alice.did, Freshness::Cached).await.expect("cached");
    assert_eq!(cached.handle(), Some(handle("alice2.coves.test")), "the fresh answer was written back");
    let restarted = h.restarted().did_document(&alice.did, Freshness::Cached).await.expect("from PostgreSQL");
    assert_eq!(restarted.handle(), Some(handle("alice2.coves.test")), "and persisted");
    assert_eq!(h.network.total_requests(), requests);
}

#[tokio::test]
async fn forget_drops_cached_answers_in_memory_and_postgresql() {
    let h = Harness::start().await;
    let alice = h.network.add_plc_identity("alice.coves.test", &random_signing_key());
    h.resolver.verified_handle(&alice.did, Freshness::Cached).await.expect("resolves");
    let alice = h.network.change_handle(&alice, "alice2.coves.test");

    h.resolver.forget(&alice.did).await;
    assert_eq!(h.persisted_rows("identity_did_documents", "did", alice.did.as_str()).await, 0);
    assert_eq!(h.persisted_rows("identity_handles", "did", alice.did.as_str()).await, 0);

    let before = h.network.plc_requests(&alice.did);
    let document = h.resolver.did_document(&alice.did, Freshness::Cached).await.expect("refetched");
    assert_eq!(document.handle(), Some(handle("alice2.coves.test")));
    assert_eq!(h.network.plc_requests(&alice.did), before + 1);
    let old = h.resolver.resolve_handle(&handle("alice.coves.test"), Freshness::Cached).await;
    assert!(matches!(old, Err(IdentityError::NotFound(_))), "the old handle no longer resolves: {old:?}");
}

#[tokio::test]
async fn forget_also_drops_a_refusal_that_depends_on_the_did() {
    let h = Harness::start().await;
    let alice = h.network.add_plc_identity("alice.coves.test", &random_signing_key());
    // The new handle points at alice before her document claims it: refused, and remembered.
    h.network.set_handle("alice2.coves.test", &alice.did);
    let refused = h.resolver.resolve_handle(&handle("alice2.coves.test"), Freshness::Cached).await;
    assert!(matches!(refused, Err(IdentityError::Invalid(_))), "{refused:?}");

    h.network.change_handle(&alice, "alice2.coves.test");
    h.resolver.forget(&alice.did).await;
    let resolved = h.resolver.resolve_handle(&handle("alice2.coves.test"), Freshness::Cached).await;
    assert_eq!(resolved, Ok(alice.did.clone()));
}

#[tokio::test]
async fn oversized_answers_are_refused() {
    let h = Harness::start().await;
    let did = random_plc_did();
    let mut document = did_document(&did, "big.coves.test", &random_signing_key(), TEST_PDS);
    document["padding"] = json!("x".repeat(70 * 1024));
    h.network.put_plc_response(&did, FakeResponse::json(&document));
    let error = h.resolver.did_document(&did, Freshness::Cached).await.expect_err("too large");
    assert!(matches!(&error, IdentityError::Invalid(m) if m.contains("larger than 65536 bytes")), "{error}");

    let h = Harness::without_handle_resolver().await;
    let frank = h.network.add_plc_identity("frank.coves.test", &random_signing_key());
    h.network.put_https("frank.coves.test", "/.well-known/atproto-did", FakeResponse::text(" ".repeat(4096)));
    let error = h.resolver.resolve_handle(&frank.handle, Freshness::Cached).await.expect_err("too large");
    assert!(matches!(&error, IdentityError::Invalid(m) if m.contains("more than 2048 bytes")), "{error}");
}

#[tokio::test]
async fn an_unknown_did_is_not_found_and_briefly_remembered() {
    let h = Harness::start().await;
    let did = random_plc_did();
    let error = h.resolver.did_document(&did, Freshness::Cached).await.expect_err("unknown");
    assert!(matches!(&error, IdentityError::NotFound(m) if m.contains("404")), "{error}");
    assert_eq!(h.resolver.did_document(&did, Freshness::Cached).await.expect_err("unknown"), error);
    assert_eq!(h.network.plc_requests(&did), 1);

    let bad_method = Did::new("did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF").expect("DID");
    let error = h.resolver.did_document(&bad_method, Freshness::Cached).await.expect_err("unsupported");
    assert!(matches!(error, IdentityError::Invalid(_)), "{error}");
    assert_eq!(h.network.total_requests(), 1, "refused without a request");
}

#[tokio::test]
async fn an_unavailable_directory_is_reported_and_not_cached() {
    let h = Harness::start().await;
    let alice = h.network.add_plc_identity("alice.coves.test", &random_signing_key());
    h.network.put_plc_response(&alice.did, FakeResponse::status(503));
    let error = h.resolver.did_document(&alice.did, Freshness::Cached).await.expect_err("unavailable");
    assert!(matches!(&error, IdentityError::Unavailable(m) if m.contains("503") && m.contains(alice.did.as_str())));

    h.network.put_plc_document(&alice.did, &alice.document);
    let document = h.resolver.did_document(&alice.did, Freshness::Cached).await.expect("retried");
    assert_eq!(document.did, alice.did);
    assert_eq!(h.network.plc_requests(&alice.did), 2);
}

#[tokio::test]
async fn the_test_app_resolves_identities_through_its_fake_network() {
    let app = TestApp::start().await;
    let alice = app.network.add_plc_identity("alice.coves.test", &random_signing_key());
    let handle = app.app.identity.verified_handle(&alice.did, Freshness::Cached).await.expect("verified");
    assert_eq!(handle, alice.handle);
    assert_eq!(app.network.plc_requests(&alice.did), 1);
    app.stop().await;
}
