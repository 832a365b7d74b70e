//! Viewer credentials for tests: P-256 and secp256k1 signing keys, their multikeys (a DID
//! document's `#atproto` `publicKeyMultibase`), and atproto service-auth JWTs minted with them.
//!
//! ```ignore
//! let key = TestKey::k256();
//! // put key.multikey() in the DID document of did:plc:alice…
//! let token = mint(&key, "did:plc:alice…", "did:web:appview.test", now() + 60, None);
//! http.get(url).header("authorization", bearer(&token));
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use atrium_crypto::keypair::{Did as _, P256Keypair, Secp256k1Keypair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// A signing key of either curve atproto uses.
pub enum TestKey {
    /// NIST P-256: tokens say `alg: ES256`.
    P256(P256Keypair),
    /// secp256k1: tokens say `alg: ES256K`.
    K256(Secp256k1Keypair),
}

impl TestKey {
    /// A fresh random P-256 key.
    pub fn p256() -> Self {
        loop {
            // Almost every 32-byte string is a valid scalar; retry the rare one that is not.
            if let Ok(key) = P256Keypair::import(&rand::random::<[u8; 32]>()) {
                return Self::P256(key);
            }
        }
    }

    /// A fresh random secp256k1 key.
    pub fn k256() -> Self {
        loop {
            if let Ok(key) = Secp256k1Keypair::import(&rand::random::<[u8; 32]>()) {
                return Self::K256(key);
            }
        }
    }

    /// The JWS `alg` this key signs with (`ES256` or `ES256K`).
    pub fn alg(&self) -> &'static str {
        match self {
            Self::P256(_) => "ES256",
            Self::K256(_) => "ES256K",
        }
    }

    /// `did:key:z…` of the public key.
    pub fn did_key(&self) -> String {
        match self {
            Self::P256(key) => key.did(),
            Self::K256(key) => key.did(),
        }
    }

    /// The public key as a multikey (`z…`): the `publicKeyMultibase` of a DID document's
    /// `#atproto` verification method.
    pub fn multikey(&self) -> String {
        self.did_key().trim_start_matches("did:key:").to_owned()
    }

    /// A low-S `r || s` signature (64 bytes) of SHA-256(`message`).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::P256(key) => key.sign(message),
            Self::K256(key) => key.sign(message),
        }
        .expect("signing succeeds")
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs();
    i64::try_from(seconds).expect("seconds fit in i64")
}

/// A service-auth token from `iss` (the viewer's DID) for `aud` (the AppView's DID),
/// expiring at `exp` (Unix seconds), optionally scoped to the XRPC method `lxm`.
pub fn mint(key: &TestKey, iss: &str, aud: &str, exp: i64, lxm: Option<&str>) -> String {
    let mut claims =
        json!({"iss": iss, "aud": aud, "exp": exp, "iat": now(), "jti": format!("{:032x}", rand::random::<u128>())});
    if let Some(lxm) = lxm {
        claims["lxm"] = json!(lxm);
    }
    mint_with(key, &json!({"typ": "JWT", "alg": key.alg()}), &claims)
}

/// A token with any header and claims, signed by `key` (for malformed and hostile tokens).
pub fn mint_with(key: &TestKey, header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", encode_json(header), encode_json(claims));
    let signature = URL_SAFE_NO_PAD.encode(key.sign(signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// An unsigned `alg: none` token, which must be refused.
pub fn unsigned(iss: &str, aud: &str, exp: i64) -> String {
    let claims = json!({"iss": iss, "aud": aud, "exp": exp, "iat": now()});
    format!("{}.{}.", encode_json(&json!({"typ": "JWT", "alg": "none"})), encode_json(&claims))
}

/// The `Authorization` header value for a token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON serializes"))
}
