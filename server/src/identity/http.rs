//! The one outbound HTTP client of the server, and reading bodies under a size cap.
//!
//! Every outbound call (identity today, link unfurling later) shares one pooled client so
//! connections, timeouts and TLS roots are configured once. The client never follows
//! redirects: identity answers must come from the host that was asked, and callers that do
//! want redirects (unfurl) must follow them by hand so each hop can be vetted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::IdentityConfig;

/// Sent with every outbound request, so operators of the services we call can tell who we are.
pub const USER_AGENT: &str =
    concat!("coves-appview/", env!("CARGO_PKG_VERSION"), " (Coves AppView; +https://coves.social)");

/// Longest wait for a TCP + TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest a whole request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the shared client from the identity settings (timeouts, no redirects, the
/// test hooks `host_overrides` and `extra_root_certificates`).
pub fn build_client(config: &IdentityConfig) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if !config.host_overrides.is_empty() {
        // A proxy would resolve names itself and ignore the overrides.
        builder = builder.no_proxy().dns_resolver(Arc::new(HostOverrides { overrides: config.host_overrides.clone() }));
    }
    for (i, der) in config.extra_root_certificates.iter().enumerate() {
        let certificate = reqwest::Certificate::from_der(der)
            .with_context(|| format!("extra root certificate #{i} is not a DER certificate"))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build().context("building the outbound HTTP client")
}

/// Connects chosen host names to fixed addresses; every other name goes to the system
/// resolver. A name `*.suffix` matches every host under `suffix`, so tests can serve
/// domains they invent after the client was built.
struct HostOverrides {
    overrides: Vec<(String, SocketAddr)>,
}

impl HostOverrides {
    fn lookup(&self, host: &str) -> Option<SocketAddr> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.overrides.iter().find(|(pattern, _)| host_matches(pattern, &host)).map(|(_, addr)| *addr)
    }
}

/// Whether `host` (lowercase) is `pattern`, or lies under `suffix` when `pattern` is `*.suffix`.
fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.strip_suffix(suffix).is_some_and(|label| label.ends_with('.') && label.len() > 1),
        None => pattern == host,
    }
}

impl Resolve for HostOverrides {
    fn resolve(&self, name: Name) -> Resolving {
        if let Some(addr) = self.lookup(name.as_str()) {
            let addrs: Addrs = Box::new(std::iter::once(addr));
            return Box::pin(std::future::ready(Ok(addrs)));
        }
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest substitutes the URL's port.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the caller accepts.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge {
        /// The cap that was exceeded.
        limit: usize,
    },
    /// The connection failed while reading.
    #[error("reading the answer failed: {0}")]
    Network(String),
}

/// Reads a response body, refusing it as soon as it exceeds `limit` bytes (by its declared
/// length, or while streaming), so a hostile server cannot make us buffer megabytes.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = CappedBody::new(limit);
    if let Some(length) = response.content_length() {
        body.expect_length(length)?;
    }
    while let Some(chunk) = response.chunk().await.map_err(|e| BodyError::Network(describe(&e)))? {
        body.push(&chunk)?;
    }
    Ok(body.into_inner())
}

/// A buffer that refuses to grow past its limit.
struct CappedBody {
    limit: usize,
    bytes: Vec<u8>,
}

impl CappedBody {
    fn new(limit: usize) -> Self {
        Self { limit, bytes: Vec::new() }
    }

    fn expect_length(&mut self, length: u64) -> Result<(), BodyError> {
        if length > self.limit as u64 {
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        self.bytes.reserve(length as usize);
        Ok(())
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        if self.bytes.len() + chunk.len() > self.limit {
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    fn into_inner(self) -> Vec<u8> {
        self.bytes
    }
}

/// A reqwest error with its causes (`error sending request: connection refused`), which
/// its `Display` alone leaves out. The URL is dropped: callers name what they asked.
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_overrides_match_hosts_under_the_suffix_only() {
        assert!(host_matches("*.test", "alice.test"));
        assert!(host_matches("*.test", "c-gardening.coves.test"));
        assert!(!host_matches("*.test", "test"));
        assert!(!host_matches("*.test", "contest"));
        assert!(!host_matches("*.test", ".test"));
        assert!(host_matches("pds.example.com", "pds.example.com"));
        assert!(!host_matches("pds.example.com", "evil-pds.example.com"));
        let overrides =
            HostOverrides { overrides: vec![("*.Test".into(), "127.0.0.1:8443".parse().expect("address"))] };
        assert_eq!(overrides.lookup("Alice.TEST."), Some("127.0.0.1:8443".parse().expect("address")));
        assert_eq!(overrides.lookup("example.com"), None);
    }

    #[test]
    fn the_cap_refuses_a_declared_length_and_a_streamed_excess() {
        let mut body = CappedBody::new(8);
        assert!(matches!(body.expect_length(9), Err(BodyError::TooLarge { limit: 8 })));
        body.expect_length(8).expect("fits");
        body.push(b"1234").expect("fits");
        body.push(b"5678").expect("exactly the limit fits");
        assert!(matches!(body.push(b"9"), Err(BodyError::TooLarge { limit: 8 })));
        assert_eq!(body.into_inner(), b"12345678");
    }

    #[tokio::test]
    async fn read_capped_reads_small_bodies_and_refuses_large_ones() {
        let small = reqwest::Response::from(axum::http::Response::new(reqwest::Body::from("did:plc:abc")));
        assert_eq!(read_capped(small, 64).await.expect("fits"), b"did:plc:abc");
        let large = reqwest::Response::from(axum::http::Response::new(reqwest::Body::from(vec![b'x'; 65])));
        assert!(matches!(read_capped(large, 64).await, Err(BodyError::TooLarge { limit: 64 })));
    }
}
