//! Viewer authentication: atproto service-auth JWTs (`Authorization: Bearer <token>`).
//!
//! A token is a compact JWS signed with ES256 (P-256) or ES256K (secp256k1) by the `#atproto`
//! key in the DID document of its issuer (the viewer). It names this service as `aud`
//! (`INSTANCE_DID`), expires (`exp`, 30 s leeway), and may be scoped to one XRPC method
//! (`lxm`). See `docs/adr/0005-service-auth-verification.md` for the policy: which requests
//! answer 401 and which treat a refused token as an anonymous viewer.
//!
//! Tokens are never logged.

pub mod jwt;
pub mod keys;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use coves_plugin_api::syntax::Did;
use coves_plugin_api::{DidDocument, Freshness, IdentityResolver, Viewer};
use serde_json::Value;

use self::jwt::UnverifiedToken;
use self::keys::{KeyError, PublicKey, SignatureError};

/// Clock skew tolerated on `exp`, `iat` and `nbf`.
pub const LEEWAY_SECS: i64 = 30;

/// After a signature fails with the cached DID document, the document is fetched again
/// (the key may have rotated), but at most once per issuer in this window, so forged
/// tokens cannot make every request a PLC directory call.
const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Bound on the issuers remembered for [`REFRESH_INTERVAL`].
const REFRESH_MEMORY: u64 = 10_000;

/// What a token is presented to, for the `lxm` check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// An XRPC method: a token with `lxm` must name this NSID.
    Xrpc(&'a str),
    /// The GraphQL endpoint (HTTP or websocket). It is no XRPC method, so it accepts only
    /// tokens without `lxm`: a token scoped to one method must not unlock everything else.
    Graphql,
}

/// Why a token was refused. `Display` is the reason given to the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed service-auth token.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm other than ES256 and ES256K (including `none`).
    #[error("unsupported alg {0}: atproto service tokens are signed with ES256 or ES256K")]
    UnsupportedAlg(String),
    /// This instance has no DID, so no token can name it as audience.
    #[error("this server does not accept bearer tokens: INSTANCE_DID is not set")]
    NoAudience,
    /// The token is for another service.
    #[error("the token is for audience {found:?}; this service expects aud = {expected:?}")]
    WrongAudience {
        /// This service's DID.
        expected: String,
        /// The token's `aud`.
        found: String,
    },
    /// No `exp` claim.
    #[error("the token has no exp claim; service tokens must expire")]
    MissingExpiry,
    /// `exp` has passed (beyond the leeway).
    #[error("the token expired {0} s ago")]
    Expired(i64),
    /// `iat` or `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet: its {0} claim is in the future")]
    NotYetValid(&'static str),
    /// `lxm` names another method.
    #[error("the token is scoped to method {found:?} (lxm), not {expected}")]
    MethodMismatch {
        /// What was called.
        expected: String,
        /// The token's `lxm`.
        found: String,
    },
    /// A token scoped to one XRPC method was presented to GraphQL.
    #[error("the token is scoped to XRPC method {0:?} (lxm); GraphQL accepts only tokens without lxm")]
    ScopedTokenOnGraphql(String),
    /// The issuer's DID document could not be resolved.
    #[error("could not resolve the issuer's DID document: {0}")]
    Identity(String),
    /// The issuer's DID document has no usable `#atproto` signing key.
    #[error("the issuer {did} has no usable #atproto signing key: {reason}")]
    NoSigningKey {
        /// The issuer.
        did: String,
        /// What is wrong with the key.
        reason: String,
    },
    /// The header's algorithm does not fit the issuer's key type.
    #[error("the token is signed with {alg}, but the issuer's key is a {curve} key")]
    AlgorithmMismatch {
        /// The header's `alg`.
        alg: &'static str,
        /// The key's curve.
        curve: &'static str,
    },
    /// The signature does not verify against the issuer's key.
    #[error("bad signature: {0} for the issuer's signing key")]
    BadSignature(SignatureError),
}

/// Verifies service-auth tokens against issuers' DID documents.
#[derive(Clone)]
pub struct ServiceAuth {
    inner: Arc<Inner>,
}

struct Inner {
    identity: Arc<dyn IdentityResolver>,
    audience: Option<String>,
    /// Issuers refreshed within [`REFRESH_INTERVAL`] (bounded, entries expire).
    refreshed: moka::future::Cache<Did, ()>,
}

impl ServiceAuth {
    /// A verifier for tokens addressed to `audience` (this instance's DID; `None` refuses
    /// every token), resolving keys through `identity`.
    pub fn new(identity: Arc<dyn IdentityResolver>, audience: Option<String>) -> Self {
        let refreshed =
            moka::future::Cache::builder().max_capacity(REFRESH_MEMORY).time_to_live(REFRESH_INTERVAL).build();
        Self { inner: Arc::new(Inner { identity, audience, refreshed }) }
    }

    /// The viewer of a request with this `Authorization` header: anonymous without one,
    /// [`Viewer::refused`] with the reason when the header or the token is not acceptable.
    pub async fn viewer(&self, authorization: Option<&HeaderValue>, endpoint: Endpoint<'_>) -> Viewer {
        match bearer_token(authorization) {
            Ok(None) => Viewer::anonymous(),
            Ok(Some(token)) => self.viewer_for_token(token, endpoint).await,
            Err(error) => refused(&error),
        }
    }

    /// The viewer a token identifies, or [`Viewer::refused`] with the reason.
    pub async fn viewer_for_token(&self, token: &str, endpoint: Endpoint<'_>) -> Viewer {
        match self.verify(token, endpoint).await {
            Ok(did) => Viewer::authenticated(did),
            Err(error) => refused(&error),
        }
    }

    /// Verifies a token presented to `endpoint` and returns the viewer's DID (`iss`
    /// without any `#fragment`).
    pub async fn verify(&self, token: &str, endpoint: Endpoint<'_>) -> Result<Did, TokenError> {
        let token = jwt::parse(token)?;
        let issuer = self.check_claims(&token, endpoint, unix_now())?;
        let document = self.document(&issuer, Freshness::Cached).await?;
        let Err(first) = check_signature(&token, &document) else { return Ok(issuer) };
        if !first.may_be_key_rotation() || !self.may_refresh(&issuer).await {
            return Err(first);
        }
        let fresh = self.document(&issuer, Freshness::Fresh).await?;
        if fresh.signing_key == document.signing_key {
            return Err(first);
        }
        check_signature(&token, &fresh)?;
        Ok(issuer)
    }

    /// Everything that needs no network: audience, times, method scope, issuer syntax.
    fn check_claims(&self, token: &UnverifiedToken<'_>, endpoint: Endpoint<'_>, now: i64) -> Result<Did, TokenError> {
        let claims = &token.claims;
        let expected = self.inner.audience.as_deref().ok_or(TokenError::NoAudience)?;
        if claims.aud != expected {
            return Err(TokenError::WrongAudience { expected: expected.to_owned(), found: claims.aud.clone() });
        }
        let exp = claims.exp.ok_or(TokenError::MissingExpiry)?;
        if now > exp.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired(now - exp));
        }
        for (name, time) in [("iat", claims.iat), ("nbf", claims.nbf)] {
            if time.is_some_and(|t| t > now.saturating_add(LEEWAY_SECS)) {
                return Err(TokenError::NotYetValid(name));
            }
        }
        match (&claims.lxm, endpoint) {
            (None, _) => {}
            (Some(lxm), Endpoint::Xrpc(nsid)) if lxm == nsid => {}
            (Some(lxm), Endpoint::Xrpc(nsid)) => {
                return Err(TokenError::MethodMismatch { expected: nsid.to_owned(), found: lxm.clone() });
            }
            (Some(lxm), Endpoint::Graphql) => return Err(TokenError::ScopedTokenOnGraphql(lxm.clone())),
        }
        let bare = claims.iss.split_once('#').map_or(claims.iss.as_str(), |(did, _)| did);
        Did::new(bare).map_err(|e| TokenError::Malformed(format!("the iss claim is not a DID: {e}")))
    }

    async fn document(&self, issuer: &Did, freshness: Freshness) -> Result<Arc<DidDocument>, TokenError> {
        self.inner.identity.did_document(issuer, freshness).await.map_err(|e| TokenError::Identity(e.to_string()))
    }

    /// Whether the issuer's document may be fetched again now (and remembers that it was).
    async fn may_refresh(&self, issuer: &Did) -> bool {
        self.inner.refreshed.entry_by_ref(issuer).or_insert(()).await.is_fresh()
    }
}

impl TokenError {
    /// Whether a newer DID document could make this token verify.
    fn may_be_key_rotation(&self) -> bool {
        matches!(
            self,
            Self::BadSignature(SignatureError::Mismatch) | Self::AlgorithmMismatch { .. } | Self::NoSigningKey { .. }
        )
    }
}

/// Checks the signature with the document's `#atproto` key.
fn check_signature(token: &UnverifiedToken<'_>, document: &DidDocument) -> Result<(), TokenError> {
    let no_key = |reason: String| TokenError::NoSigningKey { did: document.did.to_string(), reason };
    let multikey = document.signing_key.as_deref().ok_or_else(|| no_key("the DID document lists none".into()))?;
    let key = PublicKey::from_multikey(multikey).map_err(|e: KeyError| no_key(e.to_string()))?;
    if key.jws_alg() != token.alg {
        return Err(TokenError::AlgorithmMismatch { alg: token.alg.name(), curve: key.curve() });
    }
    key.verify(token.signing_input.as_bytes(), &token.signature).map_err(TokenError::BadSignature)
}

/// The token of an `Authorization: Bearer <token>` header; `Ok(None)` without a header
/// (an empty one counts as none).
pub fn bearer_token(authorization: Option<&HeaderValue>) -> Result<Option<&str>, TokenError> {
    let Some(value) = authorization else { return Ok(None) };
    let value =
        value.to_str().map_err(|_| TokenError::Malformed("the Authorization header is not ASCII text".into()))?;
    if value.trim().is_empty() {
        return Ok(None);
    }
    parse_bearer(value).map(Some)
}

/// The token in a GraphQL websocket's `connection_init` payload: `{"authorization": "Bearer
/// …"}`, `{"Authorization": "Bearer …"}` or `{"token": "…"}`. `Ok(None)` when there is none
/// (absent, `null` or empty), so the upgrade request's header may be used instead.
pub fn connection_init_token(payload: &Value) -> Result<Option<&str>, TokenError> {
    let present = |key: &str| payload.get(key).filter(|v| !v.is_null() && v.as_str() != Some(""));
    if let Some(credentials) = present("authorization").or_else(|| present("Authorization")) {
        let credentials = credentials.as_str().ok_or_else(|| {
            TokenError::Malformed("connection_init's authorization must be the string `Bearer <token>`".into())
        })?;
        return parse_bearer(credentials).map(Some);
    }
    match present("token") {
        None => Ok(None),
        Some(Value::String(token)) => Ok(Some(token.trim())),
        Some(_) => Err(TokenError::Malformed("connection_init's token must be a string".into())),
    }
}

/// The token of a `Bearer <token>` credential (the scheme is case-insensitive).
pub fn parse_bearer(credentials: &str) -> Result<&str, TokenError> {
    match credentials.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(TokenError::Malformed("the Authorization header must be `Bearer <service-auth token>`".into())),
    }
}

fn refused(error: &TokenError) -> Viewer {
    tracing::debug!(reason = %error, "bearer token refused");
    Viewer::refused(error.to_string())
}

fn unix_now() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
