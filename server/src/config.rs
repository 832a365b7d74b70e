//! One typed configuration, read from environment variables and matching flags, and
//! validated at start with messages that say what to fix.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use coves_plugin_api::syntax::Did;
use url::Url;

/// The public Jetstream instances run by Bluesky.
pub const DEFAULT_JETSTREAM_URLS: &str = "wss://jetstream1.us-east.bsky.network/subscribe,wss://jetstream2.us-east.bsky.network/subscribe,wss://jetstream1.us-west.bsky.network/subscribe,wss://jetstream2.us-west.bsky.network/subscribe";

/// Everything `serve` needs.
#[derive(Args, Clone, Debug)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub http: HttpConfig,
    #[command(flatten)]
    pub jetstream: JetstreamConfig,
    #[command(flatten)]
    pub ingest: IngestSettings,
    #[command(flatten)]
    pub instance: InstanceConfig,
    #[command(flatten)]
    pub live: LiveConfig,
    #[command(flatten)]
    pub unfurl: UnfurlConfig,
    #[command(flatten)]
    pub log: LogConfig,
}

/// The oEmbed providers known by default: YouTube, Streamable and Reddit.
pub const DEFAULT_OEMBED_PROVIDERS: &str = "https://www.youtube.com/watch*|https://www.youtube.com/oembed,\
https://youtube.com/watch*|https://www.youtube.com/oembed,https://m.youtube.com/watch*|https://www.youtube.com/oembed,\
https://www.youtube.com/shorts/*|https://www.youtube.com/oembed,https://youtu.be/*|https://www.youtube.com/oembed,\
https://streamable.com/*|https://api.streamable.com/oembed,https://www.reddit.com/r/*|https://www.reddit.com/oembed,\
https://reddit.com/r/*|https://www.reddit.com/oembed,https://old.reddit.com/r/*|https://www.reddit.com/oembed";

/// Link previews of posts (the `unfurl` plugin).
#[derive(Args, Clone, Debug)]
pub struct UnfurlConfig {
    /// Queue indexed posts' links for a preview (false: nothing is queued or fetched;
    /// cached previews are still served).
    #[arg(long = "unfurl-enabled", env = "UNFURL_ENABLED", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enabled: bool,
    /// Previews fetched at once by this process (0: this process fetches none and leaves
    /// the queue to others).
    #[arg(long = "unfurl-fetch-concurrency", env = "UNFURL_FETCH_CONCURRENCY", default_value_t = 4)]
    pub fetch_concurrency: usize,
    /// How long a fetched preview is fresh (not fetched again).
    #[arg(long = "unfurl-cache-ttl", env = "UNFURL_CACHE_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,
    /// How long a failed fetch is remembered before the link may be tried again.
    #[arg(long = "unfurl-negative-ttl", env = "UNFURL_NEGATIVE_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub negative_ttl: Duration,
    /// Delete expired previews periodically in this process.
    #[arg(long = "unfurl-cache-cleanup-enabled", env = "UNFURL_CACHE_CLEANUP_ENABLED", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub cleanup_enabled: bool,
    /// Time between two cleanups of expired previews.
    #[arg(long = "unfurl-cache-cleanup-interval", env = "UNFURL_CACHE_CLEANUP_INTERVAL", default_value = "168h", value_parser = humantime::parse_duration)]
    pub cleanup_interval: Duration,
    /// Hosts fetched even when they resolve to private or loopback addresses (comma
    /// separated names or IPs, e.g. `127.0.0.1,localhost` for local tests). Empty in production.
    #[arg(long = "unfurl-allow-hosts", env = "UNFURL_ALLOW_HOSTS", value_delimiter = ',')]
    pub allow_hosts: Vec<String>,
    /// oEmbed providers, comma separated `pattern|endpoint` pairs (`*` in a pattern matches anything).
    #[arg(long = "unfurl-oembed-providers", env = "UNFURL_OEMBED_PROVIDERS", value_delimiter = ',', default_value = DEFAULT_OEMBED_PROVIDERS)]
    pub oembed_providers: Vec<String>,
    /// Time allowed to connect to a linked site.
    #[arg(long = "unfurl-connect-timeout", env = "UNFURL_CONNECT_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Time allowed for a whole preview fetch (redirects and body included).
    #[arg(long = "unfurl-timeout", env = "UNFURL_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Largest page read for a preview, in bytes.
    #[arg(long = "unfurl-max-bytes", env = "UNFURL_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub max_bytes: usize,
    /// Requests per second to one host.
    #[arg(long = "unfurl-host-rate", env = "UNFURL_HOST_RATE", default_value_t = 2)]
    pub host_rate: u32,
}

impl UnfurlConfig {
    /// Every problem with these settings.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value) in [
            ("UNFURL_CACHE_TTL (--unfurl-cache-ttl)", self.cache_ttl),
            ("UNFURL_NEGATIVE_TTL (--unfurl-negative-ttl)", self.negative_ttl),
            ("UNFURL_CACHE_CLEANUP_INTERVAL (--unfurl-cache-cleanup-interval)", self.cleanup_interval),
            ("UNFURL_CONNECT_TIMEOUT (--unfurl-connect-timeout)", self.connect_timeout),
            ("UNFURL_TIMEOUT (--unfurl-timeout)", self.timeout),
        ] {
            if value.is_zero() {
                problems.push(format!("{name} must be longer than 0s (e.g. 1h)"));
            }
        }
        if self.max_bytes < 1024 {
            problems.push("UNFURL_MAX_BYTES (--unfurl-max-bytes) must be at least 1024 (default 1048576)".to_owned());
        }
        if self.host_rate == 0 {
            problems.push("UNFURL_HOST_RATE (--unfurl-host-rate) must be at least 1 request per second".to_owned());
        }
        for raw in &self.oembed_providers {
            if let Err(problem) = oembed_provider(raw) {
                problems.push(problem);
            }
        }
        problems
    }

    /// The plugin's settings (fails with the problems [`Config::validate`] reports too).
    pub fn settings(&self) -> Result<coves_plugin_api::UnfurlSettings, ConfigError> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(coves_plugin_api::UnfurlSettings {
            enabled: self.enabled,
            fetch_concurrency: self.fetch_concurrency,
            cache_ttl: self.cache_ttl,
            negative_ttl: self.negative_ttl,
            cleanup_enabled: self.cleanup_enabled,
            cleanup_interval: self.cleanup_interval,
            allow_hosts: self
                .allow_hosts
                .iter()
                .map(|h| h.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            oembed_providers: self.oembed_providers.iter().filter_map(|raw| oembed_provider(raw).ok()).collect(),
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            max_bytes: self.max_bytes,
            host_rate: self.host_rate,
        })
    }
}

/// One `pattern|endpoint` pair of `UNFURL_OEMBED_PROVIDERS`.
fn oembed_provider(raw: &str) -> Result<coves_plugin_api::OembedProvider, String> {
    let problem = || {
        format!(
            "UNFURL_OEMBED_PROVIDERS (--unfurl-oembed-providers) entry {raw:?} must be `pattern|endpoint` with http(s) URLs, e.g. https://streamable.com/*|https://api.streamable.com/oembed"
        )
    };
    let (pattern, endpoint) = raw.trim().split_once('|').ok_or_else(problem)?;
    let (pattern, endpoint) = (pattern.trim(), endpoint.trim());
    if !(pattern.starts_with("http://") || pattern.starts_with("https://")) || http_url(endpoint).is_none() {
        return Err(problem());
    }
    Ok(coves_plugin_api::OembedProvider { pattern: pattern.to_owned(), endpoint: endpoint.to_owned() })
}

/// Live values over GraphQL websockets.
#[derive(Args, Clone, Debug)]
pub struct LiveConfig {
    /// How long changes are gathered before live values are reloaded and sent.
    #[arg(long = "live-coalesce-window", env = "LIVE_COALESCE_WINDOW", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub coalesce_window: Duration,
    /// Most open live subscriptions in this process.
    #[arg(long = "live-max-subscriptions", env = "LIVE_MAX_SUBSCRIPTIONS", default_value_t = 100_000)]
    pub max_subscriptions: usize,
    /// Most open live subscriptions on one websocket.
    #[arg(
        long = "live-max-subscriptions-per-connection",
        env = "LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_subscriptions_per_connection: usize,
    /// Updates a subscriber may fall behind before it is dropped (`SlowConsumer`).
    #[arg(long = "live-queue", env = "LIVE_QUEUE", default_value_t = 16)]
    pub queue: usize,
    /// A websocket must complete `connection_init` within this long.
    #[arg(long = "ws-init-timeout", env = "WS_INIT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub init_timeout: Duration,
    /// Websocket ping interval; a connection silent for two intervals is closed.
    #[arg(long = "ws-keepalive", env = "WS_KEEPALIVE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub keepalive: Duration,
    /// A websocket whose client does not take a message within this long is closed.
    #[arg(long = "ws-send-timeout", env = "WS_SEND_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub send_timeout: Duration,
}

impl LiveConfig {
    /// The hub's settings.
    pub fn hub(&self) -> coves_plugin_api::live::LiveSettings {
        coves_plugin_api::live::LiveSettings {
            coalesce_window: self.coalesce_window,
            max_subscriptions: self.max_subscriptions,
            max_subscriptions_per_connection: self.max_subscriptions_per_connection,
            queue: self.queue,
        }
    }

    /// The websocket settings.
    pub fn socket(&self) -> crate::graphql::SocketSettings {
        crate::graphql::SocketSettings {
            init_timeout: self.init_timeout,
            keepalive: self.keepalive,
            send_timeout: self.send_timeout,
        }
    }
}

/// Where the data lives.
#[derive(Args, Clone, Debug)]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL. When unset, the server runs its own PostgreSQL cluster
    /// under --data-dir using the machine's installed PostgreSQL binaries.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Data directory of the embedded PostgreSQL cluster (used without DATABASE_URL).
    #[arg(long, env = "COVES_DATA_DIR", default_value = "./data/postgres")]
    pub data_dir: PathBuf,
    /// Maximum pooled database connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    pub pool_size: usize,
    /// How long a request waits for a pooled connection before answering 503.
    #[arg(long, env = "DATABASE_POOL_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub pool_timeout: Duration,
}

/// The HTTP API.
#[derive(Args, Clone, Debug)]
pub struct HttpConfig {
    /// Address the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,
    /// Deepest GraphQL selection allowed.
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = 16)]
    pub graphql_max_depth: usize,
    /// Highest GraphQL query complexity allowed (one point per field by default).
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = 2000)]
    pub graphql_max_complexity: usize,
    /// Serve the browser playground (GraphQL IDE at `/`, live view at `/live`).
    #[arg(long, env = "PLAYGROUND", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub playground: bool,
}

/// The Jetstream firehose.
#[derive(Args, Clone, Debug)]
pub struct JetstreamConfig {
    /// Jetstream `/subscribe` endpoints, comma separated; later ones are failovers.
    #[arg(long = "jetstream-url", env = "JETSTREAM_URL", value_delimiter = ',', default_value = DEFAULT_JETSTREAM_URLS)]
    pub urls: Vec<String>,
    /// Ask Jetstream for zstd-compressed messages (a `compress` parameter in the URL wins).
    #[arg(long = "jetstream-compress", env = "JETSTREAM_COMPRESS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub compress: bool,
    /// How far to rewind the stored cursor when (re)connecting; replays are harmless.
    #[arg(long = "jetstream-rewind", env = "JETSTREAM_CURSOR_REWIND", default_value = "5s", value_parser = humantime::parse_duration)]
    pub rewind: Duration,
    /// Reconnect when the stream is silent this long.
    #[arg(long = "jetstream-watchdog", env = "JETSTREAM_WATCHDOG", default_value = "60s", value_parser = humantime::parse_duration)]
    pub watchdog: Duration,
    /// Largest message accepted (decompressed); larger ones are skipped and counted.
    #[arg(long = "jetstream-max-message-bytes", env = "JETSTREAM_MAX_MESSAGE_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_message_bytes: usize,
}

/// Which parts of the server this process runs.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Ingest from Jetstream and serve the API.
    All,
    /// Serve the API only (another process ingests into the same database).
    Api,
    /// Ingest only (no API except /health, /ready and /metrics).
    Ingest,
}

/// The ingest pipeline.
#[derive(Args, Clone, Debug)]
pub struct IngestSettings {
    /// What this process runs.
    #[arg(long, env = "ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// Most events applied per transaction.
    #[arg(long, env = "INGEST_BATCH_SIZE", default_value_t = 2000)]
    pub batch_size: usize,
    /// Longest wait for more events before a batch is applied.
    #[arg(long, env = "INGEST_BATCH_WAIT", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub batch_wait: Duration,
    /// /ready fails while the committed state lags the stream by more than this (0 disables).
    #[arg(long, env = "INGEST_READY_MAX_LAG", default_value = "5m", value_parser = humantime::parse_duration)]
    pub ready_max_lag: Duration,
}

/// Who this AppView is on the network.
#[derive(Args, Clone, Debug)]
pub struct InstanceConfig {
    /// This service's DID: the `aud` that viewers' service-auth tokens must name.
    #[arg(long, env = "INSTANCE_DID")]
    pub instance_did: Option<String>,
    /// The domain whose communities this instance hosts (`!name@domain`).
    #[arg(long, env = "INSTANCE_DOMAIN")]
    pub instance_domain: Option<String>,
    /// The PLC directory used to resolve did:plc identities.
    #[arg(long, env = "PLC_URL", default_value = "https://plc.directory")]
    pub plc_url: String,
    /// Resolve handles with this service's com.atproto.identity.resolveHandle instead of
    /// DNS and HTTPS (restricted DNS, tests); DID documents must still claim the handle.
    #[arg(long, env = "HANDLE_RESOLVER_URL")]
    pub handle_resolver_url: Option<String>,
    /// Base URL of an image proxy/CDN serving `{base}/img/{preset}/plain/{did}/{cid}`;
    /// without it image URLs point at each blob's owner PDS (`com.atproto.sync.getBlob`).
    #[arg(long, env = "IMAGE_PROXY_URL")]
    pub image_proxy_url: Option<String>,
    /// Skip the did:web check of communities' hostedBy (local development only).
    #[arg(long, env = "SKIP_DID_WEB_VERIFICATION", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub skip_did_web_verification: bool,
}

/// Logging.
#[derive(Args, Clone, Debug)]
pub struct LogConfig {
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Every problem found in a configuration, one line each.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// One message per problem, each naming the setting and what to do.
    pub problems: Vec<String>,
}

/// TLDs that atproto handles may never use; a community handle under them cannot resolve.
const DISALLOWED_TLDS: &[&str] = &["alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"];

impl Config {
    /// Checks everything that can be checked without the network, reporting all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let Some(url) = &self.database.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains("host="))
        {
            problems.push(
                "DATABASE_URL (--database-url) must be a PostgreSQL URL such as postgres://user@127.0.0.1:5432/coves, or unset to run the embedded PostgreSQL".to_owned(),
            );
        }
        if self.database.pool_size == 0 {
            problems.push("DATABASE_POOL_SIZE (--pool-size) must be at least 1".to_owned());
        }
        if self.ingest.batch_size == 0 {
            problems.push("INGEST_BATCH_SIZE (--batch-size) must be at least 1".to_owned());
        }
        if self.live.queue == 0 {
            problems.push(
                "LIVE_QUEUE (--live-queue) must be at least 1: it is how many updates a subscriber may fall behind"
                    .to_owned(),
            );
        }
        if self.live.keepalive.is_zero() || self.live.init_timeout.is_zero() || self.live.send_timeout.is_zero() {
            problems.push("WS_KEEPALIVE, WS_INIT_TIMEOUT and WS_SEND_TIMEOUT must be longer than 0s".to_owned());
        }
        if self.jetstream.max_message_bytes < 1024 {
            problems
                .push("JETSTREAM_MAX_MESSAGE_BYTES (--jetstream-max-message-bytes) must be at least 1024".to_owned());
        }
        if self.jetstream.urls.is_empty() {
            problems.push("JETSTREAM_URL (--jetstream-url) needs at least one wss:// or ws:// URL".to_owned());
        }
        for raw in &self.jetstream.urls {
            match Url::parse(raw.trim()) {
                Ok(url) if matches!(url.scheme(), "ws" | "wss") => {}
                Ok(url) => problems.push(format!(
                    "JETSTREAM_URL (--jetstream-url) entry {raw:?} uses scheme {:?}; Jetstream speaks websockets, use wss://host/subscribe (or ws:// for a local server)",
                    url.scheme()
                )),
                Err(e) => problems.push(format!(
                    "JETSTREAM_URL (--jetstream-url) entry {raw:?} is not a URL ({e}); expected e.g. wss://jetstream1.us-east.bsky.network/subscribe"
                )),
            }
        }
        if http_url(&self.instance.plc_url).is_none() {
            problems.push(plc_url_problem(&self.instance.plc_url));
        }
        if let Some(raw) = &self.instance.handle_resolver_url
            && http_url(raw).is_none()
        {
            problems.push(handle_resolver_url_problem(raw));
        }
        if let Some(raw) = &self.instance.image_proxy_url
            && http_url(raw).is_none()
        {
            problems.push(format!(
                "IMAGE_PROXY_URL (--image-proxy-url) {raw:?} must be an http(s) URL such as https://images.coves.example.com, or unset to link images on their owners' PDS"
            ));
        }
        if let Some(did) = &self.instance.instance_did
            && let Err(e) = did.parse::<Did>()
        {
            problems.push(format!(
                "INSTANCE_DID (--instance-did) {did:?} is not a DID ({e}); use this service's DID, e.g. did:web:appview.example.com"
            ));
        }
        if let Some(problem) = self.instance.instance_domain.as_deref().and_then(instance_domain_problem) {
            problems.push(problem);
        }
        problems.extend(self.unfurl.problems());
        if problems.is_empty() { Ok(()) } else { Err(ConfigError { problems }) }
    }

    /// The Jetstream URLs, parsed (call after [`Config::validate`]).
    pub fn jetstream_urls(&self) -> Vec<Url> {
        self.jetstream.urls.iter().filter_map(|u| Url::parse(u.trim()).ok()).collect()
    }

    /// Where identities are resolved. Fails, saying what to set, when `PLC_URL` or
    /// `HANDLE_RESOLVER_URL` is not an http(s) URL (which [`Config::validate`] reports too).
    pub fn identity_config(&self) -> Result<crate::identity::IdentityConfig, ConfigError> {
        let refuse = |problem: String| ConfigError { problems: vec![problem] };
        let plc_url =
            http_url(&self.instance.plc_url).ok_or_else(|| refuse(plc_url_problem(&self.instance.plc_url)))?;
        let handle_resolver_url = match &self.instance.handle_resolver_url {
            Some(raw) => Some(http_url(raw).ok_or_else(|| refuse(handle_resolver_url_problem(raw)))?),
            None => None,
        };
        Ok(crate::identity::IdentityConfig { handle_resolver_url, ..crate::identity::IdentityConfig::new(plc_url) })
    }

    /// The instance domain in its canonical (lowercase) form.
    pub fn instance_domains(&self) -> Vec<String> {
        self.instance.instance_domain.iter().map(|d| d.trim().to_ascii_lowercase()).collect()
    }
}

/// `raw` parsed, when it is an http(s) URL with a host.
fn http_url(raw: &str) -> Option<Url> {
    Url::parse(raw.trim()).ok().filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

fn plc_url_problem(raw: &str) -> String {
    format!("PLC_URL (--plc-url) {raw:?} must be an http(s) URL such as https://plc.directory")
}

fn handle_resolver_url_problem(raw: &str) -> String {
    format!(
        "HANDLE_RESOLVER_URL (--handle-resolver-url) {raw:?} must be an http(s) URL of a service answering com.atproto.identity.resolveHandle, such as https://bsky.social; or unset it to resolve handles by DNS and HTTPS"
    )
}

fn instance_domain_problem(domain: &str) -> Option<String> {
    let domain = domain.trim().to_ascii_lowercase();
    let tld = domain.rsplit('.').next().unwrap_or_default();
    if tld == "local" {
        return Some(format!(
            "INSTANCE_DOMAIN (--instance-domain) {domain:?} ends in .local, which is reserved for multicast DNS; atproto refuses handles under it, so no community handle c-name.{domain} could ever resolve. Use a domain you control (e.g. coves.example.org), or a .test domain for local development (e.g. coves.test)"
        ));
    }
    if DISALLOWED_TLDS.contains(&tld) {
        return Some(format!(
            "INSTANCE_DOMAIN (--instance-domain) {domain:?} uses the TLD .{tld}, which atproto does not allow in handles; use a domain you control, or a .test domain for local development"
        ));
    }
    if coves_plugin_api::syntax::Handle::new(domain.clone()).is_err() {
        return Some(format!(
            "INSTANCE_DOMAIN (--instance-domain) {domain:?} is not a valid domain name; expected something like coves.social"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn config(args: &[&str]) -> Config {
        Cli::try_parse_from(std::iter::once("coves-appview").chain(args.iter().copied())).expect("parses").config
    }

    #[test]
    fn the_handle_resolver_url_reaches_the_identity_config() {
        let config = config(&["--handle-resolver-url", "http://127.0.0.1:2583/"]);
        config.validate().expect("valid");
        let identity = config.identity_config().expect("valid");
        assert_eq!(identity.handle_resolver_url.map(String::from).as_deref(), Some("http://127.0.0.1:2583/"));
        assert_eq!(identity.plc_url.as_str(), "https://plc.directory/");
    }

    #[test]
    fn unfurl_settings_have_their_defaults_and_are_checked() {
        let settings = config(&[]).unfurl.settings().expect("defaults are valid");
        assert!(settings.enabled && settings.cleanup_enabled);
        assert_eq!(settings.cache_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(settings.negative_ttl, Duration::from_secs(3600));
        assert_eq!(settings.cleanup_interval, Duration::from_secs(168 * 3600));
        assert_eq!(settings.max_bytes, 1024 * 1024);
        assert!(settings.allow_hosts.is_empty());
        assert!(settings.oembed_providers.iter().any(|p| p.endpoint == "https://www.youtube.com/oembed"));
        assert!(settings.oembed_providers.iter().any(|p| p.endpoint == "https://api.streamable.com/oembed"));
        assert!(settings.oembed_providers.iter().any(|p| p.endpoint == "https://www.reddit.com/oembed"));

        let config = config(&["--unfurl-allow-hosts", "127.0.0.1, LocalHost", "--unfurl-cache-ttl", "0s"]);
        let problems = config.validate().expect_err("a zero TTL").problems;
        assert!(problems.iter().any(|p| p.starts_with("UNFURL_CACHE_TTL")), "{problems:?}");
        let bad = self::config(&["--unfurl-oembed-providers", "youtube.com"]);
        assert!(bad.validate().expect_err("no endpoint").problems[0].starts_with("UNFURL_OEMBED_PROVIDERS"));
        let allowed = self::config(&["--unfurl-allow-hosts", "127.0.0.1, LocalHost"]).unfurl.settings().expect("valid");
        assert_eq!(allowed.allow_hosts, ["127.0.0.1", "localhost"]);
    }

    #[test]
    fn a_bad_identity_url_is_reported_with_what_to_set() {
        let config = config(&["--handle-resolver-url", "dns://8.8.8.8", "--plc-url", "plc.directory"]);
        let problems = config.validate().expect_err("invalid").problems;
        assert!(
            problems.iter().any(|p| p.starts_with("HANDLE_RESOLVER_URL (--handle-resolver-url) \"dns://8.8.8.8\""))
        );
        assert!(problems.iter().any(|p| p.starts_with("PLC_URL (--plc-url) \"plc.directory\"")));
        let refused = config.identity_config().expect_err("no silent fallback");
        assert!(refused.to_string().contains("PLC_URL"), "{refused}");
    }
}
