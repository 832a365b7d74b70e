//! Identity: DID documents and handles, as the server resolves them for every plugin.
//!
//! The server implements [`IdentityResolver`] (PLC directory, did:web, DNS and HTTPS
//! handle resolution, caches); plugins reach it through [`crate::AppContext::identity`].
//! Resolving means network calls: never call it inside an ingest transaction. Plugins
//! record what needs checking and resolve it from a background task instead.

use std::sync::Arc;

use serde_json::Value;

use crate::syntax::{Did, Handle};

/// The parts of a DID document the AppView uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DidDocument {
    /// The document's `id`, equal to the DID that was resolved.
    pub did: Did,
    /// `alsoKnownAs`, verbatim (handles appear as `at://<handle>`).
    pub also_known_as: Vec<String>,
    /// The `#atproto_pds` service endpoint (`AtprotoPersonalDataServer`), if any.
    pub pds_endpoint: Option<String>,
    /// The `#atproto` verification method's `publicKeyMultibase` (a multikey), if any.
    pub signing_key: Option<String>,
}

/// Why an identity could not be resolved or verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The identity does not exist (404 from the directory, no DNS record, no handle claim).
    #[error("not found: {0}")]
    NotFound(String),
    /// It exists but is malformed or fails verification (wrong `id`, handle not claimed back).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The network or the remote service failed; retrying later may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Whether a lookup may be answered from cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Cached answers (memory, then PostgreSQL) are fine while their TTL lasts.
    Cached,
    /// Go to the network (after an identity event, or a signature that failed to verify).
    Fresh,
}

/// Resolves and verifies identities. Implemented by the server; shared by every plugin.
#[async_trait::async_trait]
pub trait IdentityResolver: Send + Sync + 'static {
    /// The DID document of `did` (`did:plc` from the PLC directory, `did:web` from
    /// `https://<host>/.well-known/did.json`). Concurrent lookups of one DID share one
    /// network call.
    async fn did_document(&self, did: &Did, freshness: Freshness) -> Result<Arc<DidDocument>, IdentityError>;

    /// The DID a handle points at, **verified both ways**: the handle resolves to the DID
    /// (DNS TXT `_atproto`, HTTPS `/.well-known/atproto-did`, or the configured resolver)
    /// and the DID document claims the handle in `alsoKnownAs`.
    async fn resolve_handle(&self, handle: &Handle, freshness: Freshness) -> Result<Did, IdentityError>;

    /// The handle `did` claims, **verified both ways** (lowercase). `NotFound` when the
    /// document claims no handle, `Invalid` when the claim does not resolve back.
    async fn verified_handle(&self, did: &Did, freshness: Freshness) -> Result<Handle, IdentityError> {
        let document = self.did_document(did, freshness).await?;
        let handle = document.handle().ok_or_else(|| IdentityError::NotFound(format!("{did} claims no handle")))?;
        let resolved = self.resolve_handle(&handle, freshness).await?;
        if &resolved == did {
            Ok(handle)
        } else {
            Err(IdentityError::Invalid(format!("{did} claims handle {handle}, but {handle} resolves to {resolved}")))
        }
    }

    /// Drops everything cached about `did` (a Jetstream identity event says it changed).
    async fn forget(&self, did: &Did);
}

impl DidDocument {
    /// Reads a DID document. `Err` says what is wrong; an `id` other than `did` is refused
    /// (a host must not answer for someone else's DID).
    pub fn parse(did: &Did, document: &Value) -> Result<Self, IdentityError> {
        let invalid = |what: &str| IdentityError::Invalid(format!("DID document of {did}: {what}"));
        let object = document.as_object().ok_or_else(|| invalid("not a JSON object"))?;
        match object.get("id").and_then(Value::as_str) {
            Some(id) if id == did.as_str() => {}
            Some(id) => return Err(invalid(&format!("`id` is {id:?}, not the resolved DID"))),
            None => return Err(invalid("`id` is missing")),
        }
        let also_known_as = match object.get("alsoKnownAs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => return Err(invalid("`alsoKnownAs` is not an array")),
        };
        let pds_endpoint = entries(object.get("service"))
            .find(|s| fragment_is(s, did, "atproto_pds") && s.get("type").and_then(Value::as_str) == Some(PDS_TYPE))
            .and_then(|s| s.get("serviceEndpoint")?.as_str())
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            .map(|url| url.trim_end_matches('/').to_owned());
        let signing_key = entries(object.get("verificationMethod"))
            .find(|m| fragment_is(m, did, "atproto"))
            .and_then(|m| m.get("publicKeyMultibase")?.as_str())
            .map(str::to_owned);
        Ok(Self { did: did.clone(), also_known_as, pds_endpoint, signing_key })
    }

    /// The first handle in `alsoKnownAs` (`at://<handle>`), lowercased; the one atproto
    /// treats as the account's handle. Not verified by itself.
    pub fn handle(&self) -> Option<Handle> {
        self.also_known_as
            .iter()
            .filter_map(|aka| aka.strip_prefix("at://"))
            .find_map(|h| Handle::new(h.to_ascii_lowercase()).ok())
    }

    /// Whether `alsoKnownAs` lists `at://<handle>` (case-insensitively).
    pub fn claims_handle(&self, handle: &str) -> bool {
        self.also_known_as.iter().any(|aka| aka.strip_prefix("at://").is_some_and(|h| h.eq_ignore_ascii_case(handle)))
    }
}

const PDS_TYPE: &str = "AtprotoPersonalDataServer";

fn entries(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

/// Whether an entry's `id` is `#<fragment>` or `<did>#<fragment>`.
fn fragment_is(entry: &Value, did: &Did, fragment: &str) -> bool {
    let Some(id) = entry.get("id").and_then(Value::as_str) else { return false };
    let Some((prefix, frag)) = id.split_once('#') else { return false };
    frag == fragment && (prefix.is_empty() || prefix == did.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn did() -> Did {
        Did::new("did:plc:ewvi7nxzyoun6zhxrhs64oiz").expect("valid DID")
    }

    #[test]
    fn reads_the_atproto_parts_of_a_plc_document() {
        let doc = DidDocument::parse(
            &did(),
            &json!({
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
                "alsoKnownAs": ["at://Alice.Example.com", "at://old.example.com"],
                "verificationMethod": [
                    {"id": "did:plc:ewvi7nxzyoun6zhxrhs64oiz#other", "publicKeyMultibase": "zOther"},
                    {"id": "#atproto", "type": "Multikey", "publicKeyMultibase": "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"}
                ],
                "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.example.com/"}]
            }),
        )
        .expect("valid document");
        assert_eq!(doc.handle().map(String::from).as_deref(), Some("alice.example.com"));
        assert!(doc.claims_handle("alice.example.COM"));
        assert!(!doc.claims_handle("bob.example.com"));
        assert_eq!(doc.pds_endpoint.as_deref(), Some("https://pds.example.com"));
        assert_eq!(doc.signing_key.as_deref(), Some("zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"));
    }

    #[test]
    fn refuses_a_document_for_another_did() {
        let err = DidDocument::parse(&did(), &json!({"id": "did:plc:someoneelse234567abcdefg"})).expect_err("wrong id");
        assert!(matches!(err, IdentityError::Invalid(m) if m.contains("not the resolved DID")));
        assert!(DidDocument::parse(&did(), &json!([])).is_err());
    }

    #[test]
    fn missing_parts_are_absent_not_errors() {
        let doc = DidDocument::parse(&did(), &json!({"id": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"})).expect("valid");
        assert_eq!((doc.handle(), doc.pds_endpoint, doc.signing_key), (None, None, None));
    }
}
