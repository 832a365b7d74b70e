//! The server's identity resolver: DID documents (`did:plc`, `did:web`) and handles (DNS,
//! HTTPS, or a `resolveHandle` service), always verified both ways, cached in memory and
//! in PostgreSQL.
//!
//! A lookup goes memory → PostgreSQL (unexpired rows) → network, and writes what the
//! network said back to both. Concurrent lookups of one key share one load. Successes
//! are persisted (24 h) but kept in memory for less (1 h) so that other processes'
//! refreshes are noticed; `NotFound`/`Invalid` verdicts are remembered in memory only,
//! briefly; `Unavailable` is never cached. A database failure never fails a lookup: it is
//! logged and the network answers. Every outbound call goes through [`Resolver::http_client`].
//!
//! Modules: `http` (the shared client, capped bodies), `document` (fetching DID
//! documents), `handle` (handle → DID, one direction), `cache` (memory, coalescing),
//! `store` (PostgreSQL).

mod cache;
mod document;
mod handle;
pub mod http;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coves_plugin_api::syntax::{Did, Handle};
use coves_plugin_api::{BackgroundTask, DbPool, DidDocument, Freshness, IdentityError, IdentityResolver};
use url::Url;

use self::cache::{Cached, MemoryCache};
use self::handle::HandleSources;
use self::store::Store;

/// How often expired rows leave the persisted cache.
const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Where and how identities are resolved.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    /// The PLC directory (`GET {plc_url}/{did}`).
    pub plc_url: Url,
    /// `GET <url>/xrpc/com.atproto.identity.resolveHandle` instead of DNS and HTTPS (for
    /// deployments with restricted DNS, and tests). The DID document must still claim the
    /// handle.
    pub handle_resolver_url: Option<Url>,
    /// Test hook: connect to these addresses for these host names; `*.suffix` matches
    /// every host under `suffix`. Disables proxies from the environment.
    pub host_overrides: Vec<(String, SocketAddr)>,
    /// Test hook: extra trusted root certificates (DER).
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// DNS servers for `_atproto` TXT lookups; empty means the system's (`/etc/resolv.conf`).
    pub dns_nameservers: Vec<SocketAddr>,
    /// Cache sizes and lifetimes.
    pub cache: CacheSettings,
}

impl IdentityConfig {
    /// Resolution through `plc_url`, DNS and HTTPS, with the default cache settings.
    pub fn new(plc_url: Url) -> Self {
        Self {
            plc_url,
            handle_resolver_url: None,
            host_overrides: Vec::new(),
            extra_root_certificates: Vec::new(),
            dns_nameservers: Vec::new(),
            cache: CacheSettings::default(),
        }
    }
}

/// How much is cached, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct CacheSettings {
    /// Most entries in each memory cache (documents, handles).
    pub memory_entries: u64,
    /// How long a success stays in memory (shorter than `persisted_ttl`, so a refresh by
    /// another process reaches this one through PostgreSQL).
    pub memory_ttl: Duration,
    /// How long a success stays valid in PostgreSQL.
    pub persisted_ttl: Duration,
    /// How long a `NotFound`/`Invalid` verdict is remembered (memory only).
    pub failure_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            memory_entries: 100_000,
            memory_ttl: Duration::from_secs(60 * 60),
            persisted_ttl: Duration::from_secs(24 * 60 * 60),
            failure_ttl: Duration::from_secs(5 * 60),
        }
    }
}

/// The server's identity resolver; see the module documentation.
pub struct Resolver {
    http: reqwest::Client,
    plc_url: Url,
    handle_sources: HandleSources,
    documents: MemoryCache<Did, Arc<DidDocument>>,
    handles: MemoryCache<Handle, Did>,
    store: Store,
    settings: CacheSettings,
}

/// Where an answer came from (the `source` label of `identity_lookups_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Memory,
    Database,
    Network,
    /// Another caller's load for the same key, already in flight.
    Coalesced,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Memory => "memory",
            Source::Database => "database",
            Source::Network => "network",
            Source::Coalesced => "coalesced",
        }
    }
}

impl Resolver {
    /// A resolver over `pool`'s persisted cache. Fails only on a broken configuration
    /// (an unreadable extra root certificate).
    pub fn new(config: IdentityConfig, pool: DbPool) -> anyhow::Result<Arc<Self>> {
        let http = http::build_client(&config)?;
        let handle_sources =
            HandleSources::new(http.clone(), config.handle_resolver_url.clone(), &config.dns_nameservers);
        Ok(Arc::new(Self {
            handle_sources,
            plc_url: config.plc_url,
            documents: MemoryCache::new(config.cache.memory_entries),
            handles: MemoryCache::new(config.cache.memory_entries),
            store: Store::new(pool),
            settings: config.cache,
            http,
        }))
    }

    /// The shared outbound HTTP client (pooled, 3 s connect and 10 s total timeouts, no
    /// redirects, this AppView's User-Agent). Every outbound call should use it; read
    /// bodies with [`http::read_capped`].
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Deletes expired rows of the persisted cache (lookups already ignore them), for a
    /// periodic clean-up; returns how many went.
    pub async fn purge_expired(&self) -> anyhow::Result<usize> {
        self.store.purge_expired().await
    }

    /// A background task that deletes expired rows of the persisted cache every hour, so
    /// it holds about a day of identities rather than every one ever seen.
    pub fn purge_task(self: &Arc<Self>) -> BackgroundTask {
        let resolver = Arc::clone(self);
        BackgroundTask::new("identity-cache-purge", move |ctx| async move {
            let mut every = tokio::time::interval(PURGE_INTERVAL);
            loop {
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    _ = every.tick() => {}
                }
                match resolver.purge_expired().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "expired identities dropped from the persisted cache"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not purge the identity cache"),
                }
            }
        })
    }

    /// `did`'s document, answered per `freshness`.
    async fn document(&self, did: &Did, freshness: Freshness) -> Result<Arc<DidDocument>, IdentityError> {
        let mut source = Source::Coalesced;
        let answer = match freshness {
            Freshness::Cached => match self.documents.get(did).await {
                Some(hit) => {
                    source = Source::Memory;
                    Ok(hit)
                }
                None => {
                    self.documents
                        .get_or_load(did.clone(), async {
                            let (from, answer) = self.load_document(did).await;
                            source = from;
                            answer
                        })
                        .await
                }
            },
            Freshness::Fresh => {
                self.documents
                    .refresh(did.clone(), async {
                        source = Source::Network;
                        self.fetch_document(did).await
                    })
                    .await
            }
        };
        let outcome = answer.and_then(|cached| cached.outcome);
        record("did", source, &outcome);
        outcome
    }

    /// A memory miss: PostgreSQL, then the network.
    async fn load_document(&self, did: &Did) -> (Source, Result<Cached<Arc<DidDocument>>, IdentityError>) {
        match self.store.document(did).await {
            Ok(Some(stored)) => match DidDocument::parse(did, &stored.value) {
                Ok(document) => {
                    let ttl = self.settings.memory_ttl.min(stored.remaining);
                    return (Source::Database, Ok(Cached { outcome: Ok(Arc::new(document)), depends_on: None, ttl }));
                }
                Err(e) => {
                    tracing::warn!(%did, error = %e, "a persisted DID document no longer parses; fetching it again")
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%did, error = %format!("{e:#}"), "identity cache database unavailable; asking the network")
            }
        }
        (Source::Network, self.fetch_document(did).await)
    }

    /// The network's answer for `did`, written through to PostgreSQL.
    async fn fetch_document(&self, did: &Did) -> Result<Cached<Arc<DidDocument>>, IdentityError> {
        match document::fetch(&self.http, &self.plc_url, did).await {
            Ok(fetched) => {
                if let Err(e) = self.store.put_document(did, &fetched.raw, self.settings.persisted_ttl).await {
                    tracing::warn!(%did, error = %format!("{e:#}"), "could not persist a DID document");
                }
                let document = Arc::new(fetched.document);
                Ok(Cached { outcome: Ok(document), depends_on: None, ttl: self.settings.memory_ttl })
            }
            Err(IdentityError::Unavailable(why)) => Err(IdentityError::Unavailable(why)),
            Err(verdict) => {
                if let Err(e) = self.store.delete_document(did).await {
                    tracing::warn!(%did, error = %format!("{e:#}"), "could not drop a persisted DID document");
                }
                Ok(Cached { outcome: Err(verdict), depends_on: None, ttl: self.settings.failure_ttl })
            }
        }
    }

    /// The DID `handle` points at, verified both ways. `known` is a document the caller
    /// already holds (fetched with the same freshness), reused when the handle points at it.
    async fn handle_did(
        &self,
        handle: &Handle,
        freshness: Freshness,
        known: Option<&Arc<DidDocument>>,
    ) -> Result<Did, IdentityError> {
        let handle = handle.normalized();
        let mut source = Source::Coalesced;
        let answer = match freshness {
            Freshness::Cached => match self.handles.get(&handle).await {
                Some(hit) => {
                    source = Source::Memory;
                    Ok(hit)
                }
                None => {
                    self.handles
                        .get_or_load(handle.clone(), async {
                            let (from, answer) = self.load_handle(&handle, known).await;
                            source = from;
                            answer
                        })
                        .await
                }
            },
            Freshness::Fresh => {
                self.handles
                    .refresh(handle.clone(), async {
                        source = Source::Network;
                        self.fetch_handle(&handle, Freshness::Fresh, known).await
                    })
                    .await
            }
        };
        let outcome = answer.and_then(|cached| cached.outcome);
        record("handle", source, &outcome);
        outcome
    }

    /// A memory miss: PostgreSQL, then the network.
    async fn load_handle(
        &self,
        handle: &Handle,
        known: Option<&Arc<DidDocument>>,
    ) -> (Source, Result<Cached<Did>, IdentityError>) {
        match self.store.handle(handle).await {
            Ok(Some(stored)) => match Did::new(stored.value) {
                Ok(did) => {
                    let ttl = self.settings.memory_ttl.min(stored.remaining);
                    let cached = Cached { outcome: Ok(did.clone()), depends_on: Some(did), ttl };
                    return (Source::Database, Ok(cached));
                }
                Err(e) => {
                    tracing::warn!(%handle, error = %e, "a persisted handle resolution holds no DID; resolving again")
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%handle, error = %format!("{e:#}"), "identity cache database unavailable; asking the network")
            }
        }
        (Source::Network, self.fetch_handle(handle, Freshness::Cached, known).await)
    }

    /// Resolves `handle` on the network, checks that the DID document claims it, and
    /// writes the verdict through to PostgreSQL.
    async fn fetch_handle(
        &self,
        handle: &Handle,
        freshness: Freshness,
        known: Option<&Arc<DidDocument>>,
    ) -> Result<Cached<Did>, IdentityError> {
        let (verdict, depends_on) = match self.handle_sources.resolve(handle).await {
            Ok(did) => {
                let document = match known.filter(|document| document.did == did) {
                    Some(document) => Ok(document.clone()),
                    None => self.document(&did, freshness).await,
                };
                let verdict = match document {
                    Ok(document) if document.claims_handle(handle.as_str()) => Ok(did.clone()),
                    Ok(_) => Err(IdentityError::Invalid(format!(
                        "{handle} points at {did}, but that DID document does not claim it (no at://{handle} in alsoKnownAs)"
                    ))),
                    Err(IdentityError::Unavailable(why)) => return Err(IdentityError::Unavailable(why)),
                    Err(IdentityError::NotFound(why) | IdentityError::Invalid(why)) => Err(IdentityError::Invalid(
                        format!("{handle} points at {did}, whose DID document does not resolve: {why}"),
                    )),
                };
                (verdict, Some(did))
            }
            Err(IdentityError::Unavailable(why)) => return Err(IdentityError::Unavailable(why)),
            Err(verdict) => (Err(verdict), None),
        };
        let written = match &verdict {
            Ok(did) => self.store.put_handle(handle, did, self.settings.persisted_ttl).await,
            Err(_) => self.store.delete_handle(handle).await,
        };
        if let Err(e) = written {
            tracing::warn!(%handle, error = %format!("{e:#}"), "could not update a persisted handle resolution");
        }
        let ttl = if verdict.is_ok() { self.settings.memory_ttl } else { self.settings.failure_ttl };
        Ok(Cached { outcome: verdict, depends_on, ttl })
    }
}

#[async_trait::async_trait]
impl IdentityResolver for Resolver {
    async fn did_document(&self, did: &Did, freshness: Freshness) -> Result<Arc<DidDocument>, IdentityError> {
        self.document(did, freshness).await
    }

    async fn resolve_handle(&self, handle: &Handle, freshness: Freshness) -> Result<Did, IdentityError> {
        self.handle_did(handle, freshness, None).await
    }

    /// As the provided method, but the document fetched first also serves the handle's
    /// check, so a `Fresh` call fetches it once.
    async fn verified_handle(&self, did: &Did, freshness: Freshness) -> Result<Handle, IdentityError> {
        let document = self.document(did, freshness).await?;
        let handle = document.handle().ok_or_else(|| IdentityError::NotFound(format!("{did} claims no handle")))?;
        let resolved = self.handle_did(&handle, freshness, Some(&document)).await?;
        if &resolved == did {
            Ok(handle)
        } else {
            Err(IdentityError::Invalid(format!("{did} claims handle {handle}, but {handle} resolves to {resolved}")))
        }
    }

    async fn forget(&self, did: &Did) {
        self.documents.invalidate(did).await;
        self.handles.invalidate_dependents(did);
        if let Err(e) = self.store.forget(did).await {
            tracing::warn!(%did, error = %format!("{e:#}"), "could not drop a DID from the persisted identity cache");
        }
    }
}

/// Counts a lookup in `identity_lookups_total{kind, source, outcome}`.
fn record<T>(kind: &'static str, source: Source, outcome: &Result<T, IdentityError>) {
    let outcome = match outcome {
        Ok(_) => "ok",
        Err(IdentityError::NotFound(_)) => "not_found",
        Err(IdentityError::Invalid(_)) => "invalid",
        Err(IdentityError::Unavailable(_)) => "unavailable",
    };
    metrics::counter!("identity_lookups_total", "kind" => kind, "source" => source.label(), "outcome" => outcome)
        .increment(1);
}
