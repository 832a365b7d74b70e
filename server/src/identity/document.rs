//! Fetching DID documents from the network: `did:plc` from the PLC directory, `did:web`
//! from the host's `/.well-known/did.json`. No caching here (see `cache` and `store`).

use coves_plugin_api::syntax::Did;
use coves_plugin_api::{DidDocument, IdentityError};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use super::http::{BodyError, describe, read_capped};

/// Largest DID document accepted. Real ones are around 1 KiB; the cap stops a hostile
/// host from making us buffer an endless body.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// A document as fetched: the JSON (persisted verbatim) and what the AppView reads of it.
#[derive(Debug)]
pub struct FetchedDocument {
    /// The document exactly as served.
    pub raw: Value,
    /// Its parsed atproto parts.
    pub document: DidDocument,
}

/// Where `did`'s document lives. `Invalid` for DIDs no atproto resolver supports, before
/// any network call.
pub fn document_url(plc_url: &Url, did: &Did) -> Result<Url, IdentityError> {
    match did.method() {
        "plc" => plc_document_url(plc_url, did),
        "web" => did_web_document_url(did),
        other => Err(IdentityError::Invalid(format!(
            "{did}: DID method {other:?} is not supported (atproto uses did:plc and did:web)"
        ))),
    }
}

/// `{plc_url}/{did}`, for a well-formed `did:plc` (24 characters of base32 `a-z2-7`).
fn plc_document_url(plc_url: &Url, did: &Did) -> Result<Url, IdentityError> {
    let id = did.identifier();
    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)) {
        return Err(IdentityError::Invalid(format!(
            "{did} is not a did:plc (expected 24 characters of base32 a-z2-7 after did:plc:)"
        )));
    }
    let base = plc_url.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/{did}"))
        .map_err(|e| IdentityError::Unavailable(format!("PLC directory URL {plc_url} cannot address {did}: {e}")))
}

/// `https://{host}/.well-known/did.json` for a host-level `did:web` (a port is written
/// `%3A`). Path-based did:web and IP addresses are refused, as atproto does.
fn did_web_document_url(did: &Did) -> Result<Url, IdentityError> {
    let invalid = |why: &str| IdentityError::Invalid(format!("{did}: {why}"));
    let id = did.identifier();
    if id.contains(':') {
        return Err(invalid("path-based did:web is not supported by atproto (only did:web:<host>)"));
    }
    let host = id.replace("%3A", ":").replace("%3a", ":");
    if host.contains('%') {
        return Err(invalid("only %3A (a port separator) may be percent-encoded in a did:web"));
    }
    let url = Url::parse(&format!("https://{host}/.well-known/did.json"))
        .map_err(|e| invalid(&format!("{host:?} is not a host name ({e})")))?;
    match url.host() {
        Some(url::Host::Domain(domain)) if domain.contains('.') || domain == "localhost" => Ok(url),
        Some(url::Host::Domain(_)) => Err(invalid("a did:web host must be a domain name")),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
            Err(invalid("a did:web must name a domain, not an IP address"))
        }
        None => Err(invalid("a did:web must name a host")),
    }
}

/// Who answers for `did`, for error messages.
fn authority(did: &Did) -> &'static str {
    if did.is_plc() { "PLC directory" } else { "did:web host" }
}

/// Fetches and checks `did`'s document. `NotFound` for 404/410 (410: a tombstoned
/// did:plc), `Invalid` for malformed or oversized documents and redirects, `Unavailable`
/// for network failures and other statuses.
pub async fn fetch(http: &reqwest::Client, plc_url: &Url, did: &Did) -> Result<FetchedDocument, IdentityError> {
    let url = document_url(plc_url, did)?;
    let who = authority(did);
    let response = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/did+ld+json, application/json")
        .send()
        .await
        .map_err(|e| {
            IdentityError::Unavailable(format!("could not reach the {who} at {url} for {did}: {}", describe(&e)))
        })?;
    let status = response.status();
    match status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND | StatusCode::GONE => {
            return Err(IdentityError::NotFound(format!("the {who} answered {status} for {did} ({url})")));
        }
        s if s.is_redirection() => {
            return Err(IdentityError::Invalid(format!(
                "the {who} answered {status} (a redirect) for {did}; DID documents must be served at {url} itself"
            )));
        }
        _ => return Err(IdentityError::Unavailable(format!("the {who} answered {status} for {did} ({url})"))),
    }
    let body = read_capped(response, MAX_DOCUMENT_BYTES).await.map_err(|e| match e {
        BodyError::TooLarge { limit } => {
            IdentityError::Invalid(format!("the DID document of {did} at {url} is larger than {limit} bytes"))
        }
        BodyError::Network(why) => IdentityError::Unavailable(format!("reading the DID document of {did}: {why}")),
    })?;
    let raw: Value = serde_json::from_slice(&body)
        .map_err(|e| IdentityError::Invalid(format!("the DID document of {did} at {url} is not JSON: {e}")))?;
    let document = DidDocument::parse(did, &raw)?;
    Ok(FetchedDocument { raw, document })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn did(s: &str) -> Did {
        Did::new(s).expect("valid DID syntax")
    }

    fn plc() -> Url {
        Url::parse("https://plc.directory").expect("URL")
    }

    #[test]
    fn did_plc_goes_to_the_directory() {
        let url = document_url(&plc(), &did("did:plc:ewvi7nxzyoun6zhxrhs64oiz")).expect("valid");
        assert_eq!(url.as_str(), "https://plc.directory/did:plc:ewvi7nxzyoun6zhxrhs64oiz");
        let with_path = Url::parse("http://127.0.0.1:2582/plc/").expect("URL");
        let url = document_url(&with_path, &did("did:plc:ewvi7nxzyoun6zhxrhs64oiz")).expect("valid");
        assert_eq!(url.as_str(), "http://127.0.0.1:2582/plc/did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    }

    #[test]
    fn malformed_did_plc_is_refused_without_a_request() {
        for bad in ["did:plc:short", "did:plc:ewvi7nxzyoun6zhxrhs64oi1", "did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ"] {
            assert!(matches!(document_url(&plc(), &did(bad)), Err(IdentityError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn did_web_maps_to_the_well_known_document() {
        let url = document_url(&plc(), &did("did:web:coves.social")).expect("valid");
        assert_eq!(url.as_str(), "https://coves.social/.well-known/did.json");
        let url = document_url(&plc(), &did("did:web:localhost%3A8443")).expect("a port is allowed");
        assert_eq!(url.as_str(), "https://localhost:8443/.well-known/did.json");
    }

    #[test]
    fn unsupported_did_web_forms_and_methods_are_invalid() {
        for (bad, why) in [
            ("did:web:example.com:user:alice", "path-based"),
            ("did:web:example.com%2Fpath", "percent-encoded"),
            ("did:web:127.0.0.1", "IP address"),
            ("did:web:intranet", "domain name"),
            ("did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF", "not supported"),
        ] {
            match document_url(&plc(), &did(bad)) {
                Err(IdentityError::Invalid(message)) => assert!(message.contains(why), "{bad}: {message}"),
                other => panic!("{bad}: expected Invalid, got {other:?}"),
            }
        }
    }
}
