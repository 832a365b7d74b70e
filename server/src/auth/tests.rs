//! The verifier against an in-memory identity resolver (standing in for the network) and
//! tokens minted with real P-256 and secp256k1 keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use atrium_crypto::keypair::{Did as _, P256Keypair, Secp256k1Keypair};
use axum::http::HeaderValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coves_plugin_api::syntax::{Did, Handle};
use coves_plugin_api::{DidDocument, Freshness, IdentityError, IdentityResolver, Viewer};
use serde_json::{Value, json};

use super::keys::SignatureError;
use super::*;

pub(super) const AUDIENCE: &str = "did:web:appview.test";
pub(super) const ALICE: &str = "did:plc:alice234567abcdefghijklm";
const NSID: &str = "social.coves.actor.getProfile";

pub(super) enum TestKey {
    P256(P256Keypair),
    K256(Secp256k1Keypair),
}

impl TestKey {
    pub(super) fn p256() -> Self {
        loop {
            if let Ok(key) = P256Keypair::import(&rand::random::<[u8; 32]>()) {
                return Self::P256(key);
            }
        }
    }

    pub(super) fn k256() -> Self {
        loop {
            if let Ok(key) = Secp256k1Keypair::import(&rand::random::<[u8; 32]>()) {
                return Self::K256(key);
            }
        }
    }

    pub(super) fn alg(&self) -> &'static str {
        match self {
            Self::P256(_) => "ES256",
            Self::K256(_) => "ES256K",
        }
    }

    fn multikey(&self) -> String {
        let did = match self {
            Self::P256(key) => key.did(),
            Self::K256(key) => key.did(),
        };
        did.trim_start_matches("did:key:").to_owned()
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::P256(key) => key.sign(message),
            Self::K256(key) => key.sign(message),
        }
        .expect("signs")
    }
}

pub(super) fn now() -> i64 {
    unix_now()
}

pub(super) fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

/// A token with any header and claims, signed by `key`.
pub(super) fn mint_raw(key: &TestKey, header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let signature = URL_SAFE_NO_PAD.encode(key.sign(signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

pub(super) fn claims(iss: &str) -> Value {
    json!({"iss": iss, "aud": AUDIENCE, "exp": now() + 60, "iat": now(), "jti": "nonce"})
}

pub(super) fn mint(key: &TestKey, claims: &Value) -> String {
    mint_raw(key, &json!({"typ": "JWT", "alg": key.alg()}), claims)
}

fn document(did: &str, key: Option<&TestKey>) -> Arc<DidDocument> {
    Arc::new(DidDocument {
        did: Did::new(did).expect("DID"),
        also_known_as: vec![],
        pds_endpoint: None,
        signing_key: key.map(TestKey::multikey),
    })
}

/// DID documents in memory: what a cached lookup answers, and what a fresh one answers
/// (after which cached lookups answer that too). Records every call.
#[derive(Default)]
pub(super) struct MemoryIdentity {
    cached: Mutex<HashMap<String, Arc<DidDocument>>>,
    fresh: Mutex<HashMap<String, Arc<DidDocument>>>,
    calls: Mutex<Vec<Freshness>>,
}

impl MemoryIdentity {
    pub(super) fn with(did: &str, key: &TestKey) -> Arc<Self> {
        let identity = Self::default();
        identity.cached.lock().expect("lock").insert(did.into(), document(did, Some(key)));
        Arc::new(identity)
    }

    pub(super) fn calls(&self) -> Vec<Freshness> {
        self.calls.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl IdentityResolver for MemoryIdentity {
    async fn did_document(&self, did: &Did, freshness: Freshness) -> Result<Arc<DidDocument>, IdentityError> {
        self.calls.lock().expect("lock").push(freshness);
        let mut cached = self.cached.lock().expect("lock");
        if freshness == Freshness::Fresh
            && let Some(doc) = self.fresh.lock().expect("lock").get(did.as_str())
        {
            cached.insert(did.to_string(), doc.clone());
        }
        cached
            .get(did.as_str())
            .cloned()
            .ok_or_else(|| IdentityError::NotFound(format!("{did} is not in the test directory")))
    }

    async fn resolve_handle(&self, handle: &Handle, _: Freshness) -> Result<Did, IdentityError> {
        Err(IdentityError::NotFound(handle.to_string()))
    }

    async fn forget(&self, _: &Did) {}
}

fn auth(identity: &Arc<MemoryIdentity>) -> ServiceAuth {
    ServiceAuth::new(identity.clone(), Some(AUDIENCE.into()))
}

async fn verify(key: &TestKey, token: &str, endpoint: Endpoint<'_>) -> (Result<Did, TokenError>, Vec<Freshness>) {
    let identity = MemoryIdentity::with(ALICE, key);
    let result = auth(&identity).verify(token, endpoint).await;
    (result, identity.calls())
}

#[tokio::test]
async fn a_valid_es256k_token_identifies_the_viewer() {
    let key = TestKey::k256();
    let (result, calls) = verify(&key, &mint(&key, &claims(ALICE)), Endpoint::Graphql).await;
    assert_eq!(result.map(String::from).as_deref(), Ok(ALICE));
    assert_eq!(calls, [Freshness::Cached]);
}

#[tokio::test]
async fn a_valid_es256_token_identifies_the_viewer() {
    let key = TestKey::p256();
    let token = mint(&key, &claims(ALICE));
    let identity = MemoryIdentity::with(ALICE, &key);
    let header = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    let viewer = auth(&identity).viewer(Some(&header), Endpoint::Xrpc(NSID)).await;
    assert_eq!(viewer, Viewer::authenticated(Did::new(ALICE).expect("DID")));
    assert_eq!(viewer.require().map(Did::as_str).ok(), Some(ALICE));
}

#[tokio::test]
async fn typ_may_be_absent_and_the_scheme_is_case_insensitive() {
    let key = TestKey::k256();
    let token = mint_raw(&key, &json!({"alg": "ES256K"}), &claims(ALICE));
    let identity = MemoryIdentity::with(ALICE, &key);
    let header = HeaderValue::from_str(&format!("bearer {token}")).expect("header");
    let viewer = auth(&identity).viewer(Some(&header), Endpoint::Graphql).await;
    assert_eq!(viewer.did.as_ref().map(Did::as_str), Some(ALICE));
}

#[tokio::test]
async fn an_issuer_fragment_is_stripped() {
    let key = TestKey::p256();
    let (result, _) = verify(&key, &mint(&key, &claims(&format!("{ALICE}#atproto"))), Endpoint::Graphql).await;
    assert_eq!(result.map(String::from).as_deref(), Ok(ALICE));
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let key = TestKey::k256();
    let token = mint(&key, &claims(ALICE));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut forged = claims(ALICE);
    forged["exp"] = json!(now() + 86_400);
    parts[1] = b64(&forged);
    let (result, calls) = verify(&key, &parts.join("."), Endpoint::Graphql).await;
    assert_eq!(result, Err(TokenError::BadSignature(SignatureError::Mismatch)));
    // One fresh look-up in case the key rotated; it did not, so the token stays refused.
    assert_eq!(calls, [Freshness::Cached, Freshness::Fresh]);
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    for key in [TestKey::k256(), TestKey::p256()] {
        let token = mint(&key, &claims(ALICE));
        let (input, signature) = token.rsplit_once('.').expect("three parts");
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        bytes[40] ^= 0x01;
        let tampered = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        let (result, _) = verify(&key, &tampered, Endpoint::Graphql).await;
        assert!(matches!(result, Err(TokenError::BadSignature(_))), "{}: {result:?}", key.alg());
        // DER-encoded or otherwise sized signatures are refused before any curve arithmetic.
        bytes.push(0);
        let long = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        let (result, _) = verify(&key, &long, Endpoint::Graphql).await;
        assert_eq!(result, Err(TokenError::BadSignature(SignatureError::Encoding)));
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_without_resolving_anything() {
    let key = TestKey::k256();
    let mut expired = claims(ALICE);
    expired["exp"] = json!(now() - 120);
    let (result, calls) = verify(&key, &mint(&key, &expired), Endpoint::Graphql).await;
    assert!(matches!(result, Err(TokenError::Expired(s)) if s >= 120), "{result:?}");
    assert!(calls.is_empty());
    let message = result.expect_err("refused").to_string();
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn expiry_has_a_small_leeway() {
    let key = TestKey::p256();
    let mut just_expired = claims(ALICE);
    just_expired["exp"] = json!(now() - 10);
    let (result, _) = verify(&key, &mint(&key, &just_expired), Endpoint::Graphql).await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let key = TestKey::k256();
    let mut other = claims(ALICE);
    other["aud"] = json!("did:web:api.bsky.app");
    let (result, calls) = verify(&key, &mint(&key, &other), Endpoint::Graphql).await;
    let error = result.expect_err("refused");
    assert!(matches!(error, TokenError::WrongAudience { .. }));
    assert!(error.to_string().contains(AUDIENCE), "names the expected audience: {error}");
    assert!(calls.is_empty());
}

#[tokio::test]
async fn without_instance_did_every_token_is_refused() {
    let key = TestKey::k256();
    let identity = MemoryIdentity::with(ALICE, &key);
    let result = ServiceAuth::new(identity, None).verify(&mint(&key, &claims(ALICE)), Endpoint::Graphql).await;
    let error = result.expect_err("refused");
    assert_eq!(error, TokenError::NoAudience);
    assert!(error.to_string().contains("INSTANCE_DID"));
}

#[tokio::test]
async fn alg_none_and_hs256_are_refused() {
    let key = TestKey::k256();
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(ALICE)));
    let hs256 = mint_raw(&key, &json!({"alg": "HS256", "typ": "JWT"}), &claims(ALICE));
    let missing = mint_raw(&key, &json!({"typ": "JWT"}), &claims(ALICE));
    for token in [unsigned, hs256, missing] {
        let (result, calls) = verify(&key, &token, Endpoint::Graphql).await;
        let error = result.expect_err("refused");
        assert!(matches!(error, TokenError::UnsupportedAlg(_)), "{error}");
        assert!(error.to_string().starts_with("unsupported alg"), "{error}");
        assert!(calls.is_empty());
    }
}

#[tokio::test]
async fn the_algorithm_must_match_the_key_type() {
    let key = TestKey::k256();
    let token = mint_raw(&key, &json!({"alg": "ES256", "typ": "JWT"}), &claims(ALICE));
    let (result, _) = verify(&key, &token, Endpoint::Graphql).await;
    assert_eq!(result, Err(TokenError::AlgorithmMismatch { alg: "ES256", curve: "secp256k1" }));
}

#[tokio::test]
async fn lxm_must_name_the_called_method() {
    let key = TestKey::p256();
    let mut scoped = claims(ALICE);
    scoped["lxm"] = json!(NSID);
    let token = mint(&key, &scoped);
    let (result, _) = verify(&key, &token, Endpoint::Xrpc(NSID)).await;
    assert_eq!(result.map(String::from).as_deref(), Ok(ALICE));
    let (result, calls) = verify(&key, &token, Endpoint::Xrpc("social.coves.feed.getTimeline")).await;
    assert!(matches!(result, Err(TokenError::MethodMismatch { .. })), "{result:?}");
    assert!(calls.is_empty());
    let (result, _) = verify(&key, &token, Endpoint::Graphql).await;
    assert_eq!(result, Err(TokenError::ScopedTokenOnGraphql(NSID.into())));
    // Without lxm a token serves any method.
    let (result, _) = verify(&key, &mint(&key, &claims(ALICE)), Endpoint::Xrpc(NSID)).await;
    assert!(result.is_ok());
}

#[tokio::test]
async fn exp_is_required() {
    let key = TestKey::k256();
    let mut forever = claims(ALICE);
    forever.as_object_mut().expect("object").remove("exp");
    let (result, _) = verify(&key, &mint(&key, &forever), Endpoint::Graphql).await;
    assert_eq!(result, Err(TokenError::MissingExpiry));
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let key = TestKey::k256();
    for claim in ["iat", "nbf"] {
        let mut early = claims(ALICE);
        early[claim] = json!(now() + 300);
        let (result, _) = verify(&key, &mint(&key, &early), Endpoint::Graphql).await;
        assert!(matches!(result, Err(TokenError::NotYetValid(c)) if c == claim), "{result:?}");
    }
}

#[tokio::test]
async fn a_rotated_key_is_found_with_one_fresh_lookup() {
    let old = TestKey::k256();
    let new = TestKey::p256();
    let identity = MemoryIdentity::with(ALICE, &old);
    identity.fresh.lock().expect("lock").insert(ALICE.into(), document(ALICE, Some(&new)));
    let auth = auth(&identity);
    let token = mint(&new, &claims(ALICE));
    let result = auth.verify(&token, Endpoint::Graphql).await;
    assert_eq!(result.map(String::from).as_deref(), Ok(ALICE));
    assert_eq!(identity.calls(), [Freshness::Cached, Freshness::Fresh]);
    // The refreshed document is now the cached one.
    assert!(auth.verify(&token, Endpoint::Graphql).await.is_ok());
    assert_eq!(identity.calls(), [Freshness::Cached, Freshness::Fresh, Freshness::Cached]);
    // A token signed by the old key no longer verifies.
    let stale = mint(&old, &claims(ALICE));
    assert!(auth.verify(&stale, Endpoint::Graphql).await.is_err());
}

#[tokio::test]
async fn forged_tokens_refresh_an_issuer_at_most_once_per_interval() {
    let key = TestKey::k256();
    let forger = TestKey::k256();
    let identity = MemoryIdentity::with(ALICE, &key);
    let auth = auth(&identity);
    for _ in 0..3 {
        let result = auth.verify(&mint(&forger, &claims(ALICE)), Endpoint::Graphql).await;
        assert_eq!(result, Err(TokenError::BadSignature(SignatureError::Mismatch)));
    }
    assert_eq!(identity.calls(), [Freshness::Cached, Freshness::Fresh, Freshness::Cached, Freshness::Cached]);
}

#[tokio::test]
async fn identity_failures_are_refusals_with_the_reason() {
    let key = TestKey::k256();
    let bob = "did:plc:bob234567abcdefghijklmn";
    let (result, _) = verify(&key, &mint(&key, &claims(bob)), Endpoint::Graphql).await;
    let error = result.expect_err("refused");
    assert!(error.to_string().starts_with("could not resolve the issuer's DID document"), "{error}");

    let identity = Arc::new(MemoryIdentity::default());
    identity.cached.lock().expect("lock").insert(ALICE.into(), document(ALICE, None));
    let result = auth(&identity).verify(&mint(&key, &claims(ALICE)), Endpoint::Graphql).await;
    assert!(matches!(result, Err(TokenError::NoSigningKey { .. })), "{result:?}");

    let (result, _) = verify(&key, &mint(&key, &claims("alice")), Endpoint::Graphql).await;
    assert!(matches!(result, Err(TokenError::Malformed(_))), "{result:?}");
}

#[tokio::test]
async fn headers_without_a_bearer_token() {
    let key = TestKey::k256();
    let identity = MemoryIdentity::with(ALICE, &key);
    let auth = auth(&identity);
    assert_eq!(auth.viewer(None, Endpoint::Graphql).await, Viewer::anonymous());
    for value in ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer ", "token"] {
        let header = HeaderValue::from_static(value);
        let viewer = auth.viewer(Some(&header), Endpoint::Graphql).await;
        assert_eq!(viewer.did, None, "{value}");
        let reason = viewer.token_error.clone().expect("refused with a reason");
        assert!(reason.contains("Bearer"), "{value}: {reason}");
        let error = viewer.require().expect_err("401");
        assert_eq!(error.status, 401);
    }
    let garbage = HeaderValue::from_static("Bearer not-a-jwt");
    let viewer = auth.viewer(Some(&garbage), Endpoint::Xrpc(NSID)).await;
    assert!(viewer.token_error.as_deref().is_some_and(|r| r.starts_with("malformed token")), "{viewer:?}");
    assert!(identity.calls().is_empty());
}

/// `n - s`: the high-S twin of a valid signature (same `r`), which verifies mathematically
/// but is malleable, so atproto refuses it.
fn high_s(signature: &[u8], order: &str) -> Vec<u8> {
    let order: Vec<u8> = (0..64).step_by(2).map(|i| u8::from_str_radix(&order[i..i + 2], 16).expect("hex")).collect();
    let mut twin = signature.to_vec();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(order[i]) - i16::from(signature[32 + i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        twin[32 + i] = u8::try_from(digit).expect("a byte");
    }
    twin
}

#[tokio::test]
async fn a_high_s_signature_is_refused() {
    const SECP256K1_N: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141";
    const P256_N: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
    for (key, order) in [(TestKey::k256(), SECP256K1_N), (TestKey::p256(), P256_N)] {
        let token = mint(&key, &claims(ALICE));
        let (input, signature) = token.rsplit_once('.').expect("three parts");
        let twin = high_s(&URL_SAFE_NO_PAD.decode(signature).expect("base64url"), order);
        let malleated = format!("{input}.{}", URL_SAFE_NO_PAD.encode(twin));
        let (result, _) = verify(&key, &malleated, Endpoint::Graphql).await;
        assert_eq!(result, Err(TokenError::BadSignature(SignatureError::HighS)), "{}", key.alg());
    }
}

#[test]
fn connection_init_payloads() {
    let token = |payload: Value| connection_init_token(&payload).map(|t| t.map(str::to_owned));
    assert_eq!(token(json!({"authorization": "Bearer abc"})), Ok(Some("abc".into())));
    assert_eq!(token(json!({"Authorization": "bearer abc"})), Ok(Some("abc".into())));
    assert_eq!(token(json!({"token": "abc"})), Ok(Some("abc".into())));
    assert_eq!(token(json!({"authorization": "Bearer abc", "token": "xyz"})), Ok(Some("abc".into())));
    for anonymous in [json!(null), json!({}), json!({"authorization": ""}), json!({"token": null}), json!([1])] {
        assert_eq!(token(anonymous.clone()), Ok(None), "{anonymous}");
    }
    for bad in [json!({"authorization": "abc"}), json!({"authorization": 5}), json!({"token": {"jwt": "abc"}})] {
        assert!(matches!(token(bad.clone()), Err(TokenError::Malformed(_))), "{bad}");
    }
}

#[tokio::test]
async fn an_empty_authorization_header_is_anonymous() {
    let identity = MemoryIdentity::with(ALICE, &TestKey::k256());
    let viewer = auth(&identity).viewer(Some(&HeaderValue::from_static("")), Endpoint::Graphql).await;
    assert_eq!(viewer, Viewer::anonymous());
}
