//! Resolving a handle to the DID it points at, one direction only: DNS TXT
//! `_atproto.<handle>`, then `https://<handle>/.well-known/atproto-did`, or a configured
//! `com.atproto.identity.resolveHandle` service instead of both. The caller checks the
//! other direction (the DID document claims the handle).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use coves_plugin_api::IdentityError;
use coves_plugin_api::syntax::{Did, Handle};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use reqwest::StatusCode;
use url::Url;

use super::http::{BodyError, describe, read_capped};

/// Largest `resolveHandle` answer accepted (`{"did": "..."}` is well under 1 KiB).
pub const MAX_RESOLVE_HANDLE_BYTES: usize = 64 * 1024;

/// Largest `/.well-known/atproto-did` body accepted: a DID and a newline.
pub const MAX_ATPROTO_DID_BYTES: usize = 2 * 1024;

/// Longest wait for one DNS answer; resolution then falls back to HTTPS.
const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// The ways this process can resolve a handle.
pub struct HandleSources {
    http: reqwest::Client,
    service: Option<Url>,
    dns: Option<TokioResolver>,
}

impl HandleSources {
    /// With `service`, handles are resolved only through it; otherwise by DNS (the
    /// system's resolvers, or `nameservers` when given) and HTTPS. When no DNS resolver
    /// can be built, handles are resolved over HTTPS alone, with a warning.
    pub fn new(http: reqwest::Client, service: Option<Url>, nameservers: &[SocketAddr]) -> Self {
        let dns = if service.is_some() {
            None
        } else {
            match build_dns(nameservers) {
                Ok(dns) => Some(dns),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "no DNS resolver: handles resolve over HTTPS only (set HANDLE_RESOLVER_URL to use a resolveHandle service)");
                    None
                }
            }
        };
        Self { http, service, dns }
    }

    /// The DID `handle` (lowercase) points at, unverified.
    pub async fn resolve(&self, handle: &Handle) -> Result<Did, IdentityError> {
        if handle.is_disallowed_tld() {
            return Err(IdentityError::Invalid(format!(
                "{handle} uses a top-level domain atproto handles may not use"
            )));
        }
        if let Some(service) = &self.service {
            return resolve_with_service(&self.http, service, handle).await;
        }
        let dns = match &self.dns {
            Some(dns) => resolve_with_dns(dns, handle).await,
            None => Ok(None),
        };
        match dns {
            Ok(Some(did)) => return Ok(did),
            // Conflicting records are a verdict, not a miss: do not let HTTPS override it.
            Err(invalid @ IdentityError::Invalid(_)) => return Err(invalid),
            _ => {}
        }
        match (resolve_with_well_known(&self.http, handle).await, dns) {
            (Ok(did), _) => Ok(did),
            (Err(IdentityError::NotFound(https)), Err(IdentityError::Unavailable(dns))) => {
                Err(IdentityError::Unavailable(format!("{dns}; and {https}")))
            }
            (Err(IdentityError::NotFound(https)), _) => {
                Err(IdentityError::NotFound(format!("{handle} has no _atproto DNS TXT record, and {https}")))
            }
            (Err(other), _) => Err(other),
        }
    }
}

/// A DNS resolver that always asks the network: the identity caches above it decide what
/// is fresh, and `Freshness::Fresh` must not be answered from a DNS cache.
fn build_dns(nameservers: &[SocketAddr]) -> anyhow::Result<TokioResolver> {
    let mut builder = if nameservers.is_empty() {
        TokioResolver::builder_tokio().context("reading the system DNS configuration")?
    } else {
        let servers = nameservers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), TokioRuntimeProvider::default())
    };
    let options = builder.options_mut();
    options.cache_size = 0;
    options.timeout = DNS_TIMEOUT;
    options.attempts = 1;
    builder.build().context("building the DNS resolver")
}

/// `_atproto.<handle>` TXT: `Ok(None)` when there is no such record.
async fn resolve_with_dns(dns: &TokioResolver, handle: &Handle) -> Result<Option<Did>, IdentityError> {
    // The trailing dot keeps resolv.conf search domains out of it.
    let name = format!("_atproto.{handle}.");
    match dns.txt_lookup(name.as_str()).await {
        Ok(lookup) => {
            let records = lookup.answers().iter().filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect()),
                _ => None,
            });
            did_from_txt(handle, records)
        }
        Err(e) if e.is_no_records_found() => Ok(None),
        Err(e) => Err(IdentityError::Unavailable(format!("DNS lookup of {} failed: {e}", name.trim_end_matches('.')))),
    }
}

/// The DID named by `_atproto` TXT records (each the concatenation of its strings):
/// records other than `did=<did>` are ignored; several different DIDs are `Invalid`.
pub fn did_from_txt(handle: &Handle, records: impl IntoIterator<Item = String>) -> Result<Option<Did>, IdentityError> {
    let mut found: Option<String> = None;
    for record in records {
        let Some(value) = record.trim().strip_prefix("did=") else { continue };
        match &found {
            Some(previous) if previous != value => {
                return Err(IdentityError::Invalid(format!(
                    "_atproto.{handle} has TXT records for different DIDs ({previous} and {value})"
                )));
            }
            _ => found = Some(value.to_owned()),
        }
    }
    found
        .map(|value| {
            Did::new(value.clone()).map_err(|e| {
                IdentityError::Invalid(format!("_atproto.{handle} names {value:?}, which is not a DID ({e})"))
            })
        })
        .transpose()
}

/// `https://<handle>/.well-known/atproto-did`: the DID as plain text.
async fn resolve_with_well_known(http: &reqwest::Client, handle: &Handle) -> Result<Did, IdentityError> {
    let url = format!("https://{handle}/.well-known/atproto-did");
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| IdentityError::Unavailable(format!("could not reach {url}: {}", describe(&e))))?;
    let status = response.status();
    match status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND | StatusCode::GONE => {
            return Err(IdentityError::NotFound(format!("{url} answered {status}")));
        }
        s if s.is_redirection() => {
            return Err(IdentityError::Invalid(format!("{url} answered {status}; redirects are not followed")));
        }
        _ => return Err(IdentityError::Unavailable(format!("{url} answered {status}"))),
    }
    let body = read_capped(response, MAX_ATPROTO_DID_BYTES).await.map_err(|e| match e {
        BodyError::TooLarge { limit } => {
            IdentityError::Invalid(format!("{url} answered more than {limit} bytes; it should hold only a DID"))
        }
        BodyError::Network(why) => IdentityError::Unavailable(format!("reading {url}: {why}")),
    })?;
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    Did::new(text).map_err(|e| {
        let shown: String = text.chars().take(80).collect();
        IdentityError::Invalid(format!("{url} does not hold a DID ({e}): {shown:?}"))
    })
}

/// `GET <service>/xrpc/com.atproto.identity.resolveHandle?handle=<handle>`.
async fn resolve_with_service(http: &reqwest::Client, service: &Url, handle: &Handle) -> Result<Did, IdentityError> {
    let url = resolve_handle_url(service, handle);
    let response = http.get(url.clone()).send().await.map_err(|e| {
        IdentityError::Unavailable(format!("could not reach the handle resolver {url}: {}", describe(&e)))
    })?;
    let status = response.status();
    match status {
        StatusCode::OK => {}
        // The reference PDS answers 400 InvalidRequest "Unable to resolve handle".
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => {
            return Err(IdentityError::NotFound(format!("the handle resolver answered {status} for {handle}")));
        }
        _ => {
            return Err(IdentityError::Unavailable(format!(
                "the handle resolver answered {status} for {handle} ({url})"
            )));
        }
    }
    let body = read_capped(response, MAX_RESOLVE_HANDLE_BYTES).await.map_err(|e| match e {
        BodyError::TooLarge { limit } => IdentityError::Unavailable(format!(
            "the handle resolver's answer for {handle} is larger than {limit} bytes"
        )),
        BodyError::Network(why) => IdentityError::Unavailable(format!("reading the handle resolver's answer: {why}")),
    })?;
    #[derive(serde::Deserialize)]
    struct Answer {
        did: String,
    }
    let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
        IdentityError::Unavailable(format!("the handle resolver's answer for {handle} is not {{\"did\": ...}}: {e}"))
    })?;
    Did::new(answer.did.clone()).map_err(|e| {
        IdentityError::Invalid(format!(
            "the handle resolver says {handle} is {:?}, which is not a DID ({e})",
            answer.did
        ))
    })
}

/// `<service>/xrpc/com.atproto.identity.resolveHandle?handle=...`, keeping any path prefix
/// of the service URL.
fn resolve_handle_url(service: &Url, handle: &Handle) -> Url {
    let mut url = service.clone();
    let path = format!("{}/xrpc/com.atproto.identity.resolveHandle", service.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_fragment(None);
    url.query_pairs_mut().clear().append_pair("handle", handle.as_str());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> Handle {
        Handle::new("alice.coves.test").expect("valid handle")
    }

    fn txt(records: &[&str]) -> Vec<String> {
        records.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn txt_records_name_one_did() {
        let did = did_from_txt(&handle(), txt(&["v=spf1 -all", "did=did:plc:ewvi7nxzyoun6zhxrhs64oiz"]))
            .expect("one DID")
            .expect("found");
        assert_eq!(did.as_str(), "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
        let same_twice =
            did_from_txt(&handle(), txt(&["did=did:web:coves.test", " did=did:web:coves.test "])).expect("no conflict");
        assert_eq!(same_twice.map(String::from).as_deref(), Some("did:web:coves.test"));
    }

    #[test]
    fn txt_records_without_a_did_are_a_miss() {
        assert_eq!(did_from_txt(&handle(), txt(&[])).expect("no records"), None);
        assert_eq!(did_from_txt(&handle(), txt(&["google-site-verification=abc", "DID=x"])).expect("ignored"), None);
    }

    #[test]
    fn conflicting_or_malformed_txt_records_are_invalid() {
        let conflict =
            did_from_txt(&handle(), txt(&["did=did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did=did:web:coves.test"]));
        assert!(matches!(conflict, Err(IdentityError::Invalid(m)) if m.contains("different DIDs")));
        let malformed = did_from_txt(&handle(), txt(&["did=not-a-did"]));
        assert!(matches!(malformed, Err(IdentityError::Invalid(m)) if m.contains("not a DID")));
    }

    #[test]
    fn the_resolve_handle_url_keeps_the_service_path() {
        let plain = Url::parse("https://bsky.social").expect("URL");
        assert_eq!(
            resolve_handle_url(&plain, &handle()).as_str(),
            "https://bsky.social/xrpc/com.atproto.identity.resolveHandle?handle=alice.coves.test"
        );
        let prefixed = Url::parse("http://127.0.0.1:4000/resolver/?stale=1").expect("URL");
        assert_eq!(
            resolve_handle_url(&prefixed, &handle()).as_str(),
            "http://127.0.0.1:4000/resolver/xrpc/com.atproto.identity.resolveHandle?handle=alice.coves.test"
        );
    }
}
