//! Fetching untrusted links safely (SSRF): http(s) only; every host is resolved by our own
//! resolver, which refuses private, loopback, link-local, unique-local, CGNAT, multicast,
//! unspecified and cloud-metadata addresses, and reqwest connects to exactly the
//! addresses it returned (no second lookup a DNS rebind could answer differently). IP
//! literals, which never reach a resolver, are checked before the request. Redirects are
//! followed here (at most [`MAX_REDIRECTS`]), each hop checked again. Bodies are streamed
//! and cut at the size cap; content types are checked; each host has a token bucket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use coves_plugin_api::UnfurlSettings;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use url::{Host, Url};

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 3;

const USER_AGENT: &str = concat!("CovesAppView-Unfurl/", env!("CARGO_PKG_VERSION"), " (link previews)");

/// Why a fetch failed: a stable `kind` (a metrics label and the cached reason's prefix),
/// details for the log, and whether trying again later may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: &'static str,
    pub detail: String,
    pub transient: bool,
}

impl Failure {
    /// A failure that trying again soon will not fix.
    pub fn definite(kind: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), transient: false }
    }

    /// A failure worth retrying after a backoff (network errors, 5xx, 429).
    pub fn transient(kind: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), transient: true }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// What a fetch may accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `text/html` or `application/xhtml+xml`.
    Html,
    /// `application/json` (oEmbed).
    Json,
}

impl Expect {
    fn accept(self) -> &'static str {
        match self {
            Expect::Html => "text/html,application/xhtml+xml;q=0.9",
            Expect::Json => "application/json",
        }
    }

    fn allows(self, content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match self {
            Expect::Html => matches!(essence.as_str(), "text/html" | "application/xhtml+xml"),
            // Some providers still answer oEmbed as text/javascript or text/plain.
            Expect::Json => {
                matches!(essence.as_str(), "application/json" | "text/json" | "text/javascript" | "text/plain")
                    || essence.ends_with("+json")
            }
        }
    }
}

/// A fetched response body.
#[derive(Debug)]
pub struct Page {
    /// The URL that answered (after redirects).
    pub url: Url,
    pub body: Vec<u8>,
}

/// The shared, guarded HTTP client of the unfurl task.
pub struct Fetcher {
    client: reqwest::Client,
    allow_hosts: Arc<Vec<String>>,
    limiter: DefaultKeyedRateLimiter<String>,
    max_bytes: usize,
    timeout: std::time::Duration,
}

impl Fetcher {
    pub fn new(settings: &UnfurlSettings) -> anyhow::Result<Self> {
        let allow_hosts = Arc::new(settings.allow_hosts.clone());
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_hosts: allow_hosts.clone() }))
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .pool_max_idle_per_host(2)
            .build()?;
        let rate = NonZeroU32::new(settings.host_rate).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            client,
            allow_hosts,
            limiter: RateLimiter::keyed(Quota::per_second(rate)),
            max_bytes: settings.max_bytes,
            timeout: settings.timeout,
        })
    }

    /// Forgets idle hosts' buckets (call now and then: the map grows with every host).
    pub fn forget_idle_hosts(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// GETs `url`, following up to [`MAX_REDIRECTS`] checked redirects, within the total
    /// timeout; returns the body of a 2xx answer of the expected content type.
    pub async fn get(&self, url: &Url, expect: Expect) -> Result<Page, Failure> {
        match tokio::time::timeout(self.timeout, self.follow(url.clone(), expect)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::definite("timeout", format!("no complete answer within {:?}", self.timeout))),
        }
    }

    async fn follow(&self, mut url: Url, expect: Expect) -> Result<Page, Failure> {
        for hop in 0..=MAX_REDIRECTS {
            let host = self.check_target(&url)?;
            if self.limiter.check_key(&host).is_err() {
                return Err(Failure::transient("rate_limited", format!("too many requests to {host} just now")));
            }
            let response = self
                .client
                .get(url.clone())
                .header(ACCEPT, expect.accept())
                .send()
                .await
                .map_err(|e| request_failure(&url, &e))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()).ok_or_else(|| {
                    Failure::definite("bad_redirect", format!("{status} without a Location from {url}"))
                })?;
                let next = url
                    .join(location)
                    .map_err(|e| Failure::definite("bad_redirect", format!("Location {location:?}: {e}")))?;
                if hop == MAX_REDIRECTS {
                    return Err(Failure::definite(
                        "too_many_redirects",
                        format!("more than {MAX_REDIRECTS} redirects (the last to {next})"),
                    ));
                }
                url = next;
                continue;
            }
            if !status.is_success() {
                let detail = format!("{url} answered {status}");
                return Err(if status.is_server_error() || status.as_u16() == 429 {
                    Failure::transient("http_status", detail)
                } else {
                    Failure::definite("http_status", detail)
                });
            }
            let content_type =
                response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            if !expect.allows(&content_type) {
                return Err(Failure::definite(
                    "content_type",
                    format!("{url} is {content_type:?}, expected {}", expect.accept()),
                ));
            }
            let declared = response.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|length| length > self.max_bytes as u64) {
                return Err(Failure::definite("too_large", format!("{url} declares {} bytes", declared.unwrap_or(0))));
            }
            let body = self.read_capped(response, &url).await?;
            return Ok(Page { url, body });
        }
        Err(Failure::definite("too_many_redirects", format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// Reads the body chunk by chunk, stopping as soon as it passes the cap.
    async fn read_capped(&self, mut response: reqwest::Response, url: &Url) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| request_failure(url, &e))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(Failure::definite("too_large", format!("{url} sent more than {} bytes", self.max_bytes)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Checks a URL before a request and returns its host (the rate limiter's key): http(s)
    /// only, and an IP literal must be a public address unless allowed.
    fn check_target(&self, url: &Url) -> Result<String, Failure> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Failure::definite("refused_scheme", format!("{url}: only http and https are fetched")));
        }
        let host = url.host().ok_or_else(|| Failure::definite("refused_scheme", format!("{url} has no host")))?;
        let name = match host {
            Host::Domain(d) => d.to_ascii_lowercase(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        };
        if let Some(ip) = literal
            && !self.allow_hosts.contains(&name)
            && let Some(range) = forbidden(ip)
        {
            return Err(Failure::definite("refused_address", format!("{url}: {ip} is {range}")));
        }
        Ok(name)
    }
}

/// Maps a reqwest error, finding our resolver's refusal in its causes.
fn request_failure(url: &Url, error: &reqwest::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Failure::definite("refused_address", format!("{url}: {refused}"));
        }
        source = e.source();
    }
    let detail = format!("{url}: {}", error_chain(error));
    if error.is_timeout() {
        Failure::definite("timeout", detail)
    } else if error.is_connect() {
        Failure::transient("connect", detail)
    } else {
        Failure::transient("network", detail)
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A host that resolved to an address we do not connect to.
#[derive(Debug)]
struct Refused {
    host: String,
    ip: IpAddr,
    range: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves to {}, which is {}", self.host, self.ip, self.range)
    }
}

impl std::error::Error for Refused {}

/// Resolves names for the fetcher and refuses the whole answer when any address is not
/// public (unless the host is allowed). reqwest connects only to what this returns.
struct GuardedResolver {
    allow_hosts: Arc<Vec<String>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let allowed = self.allow_hosts.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allowed && let Some((ip, range)) = addrs.iter().find_map(|a| Some((a.ip(), forbidden(a.ip())?))) {
                return Err(Box::new(Refused { host, ip, range }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Why `ip` is not fetched, or `None` for a public address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        () if ip == Ipv4Addr::new(169, 254, 169, 254) => "a cloud metadata address",
        () if a == 0 => "unspecified (0.0.0.0/8)",
        () if a == 127 => "loopback (127.0.0.0/8)",
        () if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) => "private (RFC 1918)",
        () if a == 169 && b == 254 => "link-local (169.254.0.0/16)",
        () if a == 100 && (64..128).contains(&b) => "carrier-grade NAT (100.64.0.0/10)",
        () if (224..240).contains(&a) => "multicast (224.0.0.0/4)",
        () if a >= 240 => "reserved or broadcast (240.0.0.0/4)",
        () if a == 192 && b == 0 && c == 0 => "IETF protocol assignments (192.0.0.0/24)",
        () if a == 198 && (18..20).contains(&b) => "benchmarking (198.18.0.0/15)",
        () if (a == 192 && b == 0 && c == 2)
            || (a == 198 && b == 51 && c == 100)
            || (a == 203 && b == 0 && c == 113) =>
        {
            "documentation (TEST-NET)"
        }
        () => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // Addresses that embed an IPv4 address reach that address: judge it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        let v4 =
            Ipv4Addr::new((segments[6] >> 8) as u8, segments[6] as u8, (segments[7] >> 8) as u8, segments[7] as u8);
        return forbidden_v4(v4);
    }
    if segments[0] == 0x2002 {
        let v4 =
            Ipv4Addr::new((segments[1] >> 8) as u8, segments[1] as u8, (segments[2] >> 8) as u8, segments[2] as u8);
        if let Some(range) = forbidden_v4(v4) {
            return Some(range);
        }
    }
    Some(match () {
        () if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) => "a cloud metadata address",
        () if ip.is_unspecified() => "unspecified (::)",
        () if ip.is_loopback() => "loopback (::1)",
        () if segments[0..6] == [0, 0, 0, 0, 0, 0] => "IPv4-compatible (::/96)",
        () if segments[0] & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        () if segments[0] & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        () if segments[0] & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        () if segments[0] & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        () if segments[0] == 0x2001 && segments[1] == 0x0db8 => "documentation (2001:db8::/32)",
        () => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an IP")
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(forbidden(ip(refused)).is_some(), "{refused} must be refused");
        }
        assert_eq!(forbidden(ip("169.254.169.254")), Some("a cloud metadata address"));
        assert_eq!(forbidden(ip("fd00:ec2::254")), Some("a cloud metadata address"));
        for public in ["93.184.216.34", "172.32.0.1", "100.128.0.1", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(forbidden(ip(public)), None, "{public} is public");
        }
    }

    #[test]
    fn content_types_are_checked_by_their_essence() {
        assert!(Expect::Html.allows("text/html; charset=utf-8"));
        assert!(Expect::Html.allows("application/xhtml+xml"));
        assert!(!Expect::Html.allows("image/png"));
        assert!(!Expect::Html.allows(""));
        assert!(Expect::Json.allows("application/json"));
        assert!(!Expect::Json.allows("text/html"));
    }
}
