//! The bounded in-memory layer: answers with a per-entry TTL, and request coalescing so a
//! burst of lookups for one key makes one load.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coves_plugin_api::IdentityError;
use coves_plugin_api::syntax::Did;
use moka::Expiry;
use tokio::sync::OnceCell;

/// A definite answer worth remembering: a success, or a `NotFound`/`Invalid` verdict.
/// (`Unavailable` is never cached: retrying may succeed.)
#[derive(Clone, Debug)]
pub struct Cached<V> {
    /// The answer.
    pub outcome: Result<V, IdentityError>,
    /// The DID this answer depends on, so forgetting that DID drops it.
    pub depends_on: Option<Did>,
    /// How long the memory layer keeps it.
    pub ttl: Duration,
}

/// A bounded map whose entries each expire after their own TTL, with coalesced loads.
pub struct MemoryCache<K, V> {
    entries: moka::future::Cache<K, Cached<V>>,
    fresh: SingleFlight<K, Result<Cached<V>, IdentityError>>,
}

impl<K, V> MemoryCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// At most `capacity` entries; the least useful are evicted first.
    pub fn new(capacity: u64) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(capacity)
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        Self { entries, fresh: SingleFlight::default() }
    }

    /// The unexpired entry for `key`, if any.
    pub async fn get(&self, key: &K) -> Option<Cached<V>> {
        self.entries.get(key).await
    }

    /// The entry for `key`, running `load` on a miss. Concurrent callers for one key share
    /// a single `load`; its `Err` is handed to all of them and not cached.
    pub async fn get_or_load<F>(&self, key: K, load: F) -> Result<Cached<V>, IdentityError>
    where
        F: Future<Output = Result<Cached<V>, IdentityError>>,
    {
        self.entries.try_get_with(key, load).await.map_err(|e| (*e).clone())
    }

    /// Runs `load` regardless of what is cached (concurrent refreshes of one key share one
    /// run) and stores its answer.
    pub async fn refresh<F>(&self, key: K, load: F) -> Result<Cached<V>, IdentityError>
    where
        F: Future<Output = Result<Cached<V>, IdentityError>>,
    {
        let answer = self.fresh.run(key.clone(), load).await;
        match &answer {
            Ok(cached) => self.entries.insert(key, cached.clone()).await,
            Err(_) => self.entries.invalidate(&key).await,
        }
        answer
    }

    /// Drops `key`.
    pub async fn invalidate(&self, key: &K) {
        self.entries.invalidate(key).await;
    }

    /// Drops every entry that depends on `did`.
    pub fn invalidate_dependents(&self, did: &Did) {
        let did = did.clone();
        if let Err(e) = self.entries.invalidate_entries_if(move |_, cached| cached.depends_on.as_ref() == Some(&did)) {
            // Only possible without support_invalidation_closures(), which new() sets.
            tracing::error!(error = %e, "identity cache cannot invalidate by DID");
        }
    }
}

/// Tells moka each entry's own lifetime; a replaced entry starts over with the new TTL.
struct PerEntryTtl;

impl<K, V> Expiry<K, Cached<V>> for PerEntryTtl {
    fn expire_after_create(&self, _key: &K, value: &Cached<V>, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &K,
        value: &Cached<V>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Runs one future per key at a time: callers arriving while it runs get its result.
/// Unlike the cache's own coalescing, nothing is kept once the run ends.
pub struct SingleFlight<K, T> {
    flights: Mutex<HashMap<K, Arc<OnceCell<T>>>>,
}

impl<K, T> Default for SingleFlight<K, T> {
    fn default() -> Self {
        Self { flights: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq + Clone, T: Clone> SingleFlight<K, T> {
    /// `work`'s result, or that of the run already in flight for `key`. If the caller
    /// running the work is cancelled, a waiting caller runs its own.
    pub async fn run<F: Future<Output = T>>(&self, key: K, work: F) -> T {
        let flight = self.lock().entry(key.clone()).or_default().clone();
        let result = flight.get_or_init(|| work).await.clone();
        let mut flights = self.lock();
        if flights.get(&key).is_some_and(|current| Arc::ptr_eq(current, &flight)) {
            flights.remove(&key);
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<OnceCell<T>>>> {
        // The map is never left half-updated, so a poisoned lock is still consistent.
        self.flights.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn ok(value: &str, ttl: Duration) -> Cached<String> {
        Cached { outcome: Ok(value.to_owned()), depends_on: None, ttl }
    }

    #[tokio::test]
    async fn concurrent_loads_of_one_key_run_once() {
        let cache = MemoryCache::<String, String>::new(100);
        let runs = AtomicUsize::new(0);
        let load = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(ok("v", Duration::from_secs(60)))
        };
        let answers = futures::future::join_all((0..20).map(|_| cache.get_or_load("k".to_owned(), load()))).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(c) if c.outcome.as_deref() == Ok("v"))));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(cache.get(&"k".to_owned()).await.is_some(), "the answer is kept");
    }

    #[tokio::test]
    async fn unavailable_is_shared_but_not_cached() {
        let cache = MemoryCache::<String, String>::new(100);
        let answer = cache
            .get_or_load("k".to_owned(), async { Err(IdentityError::Unavailable("PLC directory answered 503".into())) })
            .await;
        assert!(matches!(answer, Err(IdentityError::Unavailable(_))));
        assert!(cache.get(&"k".to_owned()).await.is_none());
    }

    #[tokio::test]
    async fn entries_expire_after_their_own_ttl() {
        let cache = MemoryCache::<String, String>::new(100);
        cache.refresh("short".to_owned(), async { Ok(ok("s", Duration::from_millis(50))) }).await.expect("stored");
        cache.refresh("long".to_owned(), async { Ok(ok("l", Duration::from_secs(60))) }).await.expect("stored");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(cache.get(&"short".to_owned()).await.is_none());
        assert!(cache.get(&"long".to_owned()).await.is_some());
    }

    #[tokio::test]
    async fn dependents_of_a_did_are_dropped() {
        let cache = MemoryCache::<String, String>::new(100);
        let did = Did::new("did:plc:ewvi7nxzyoun6zhxrhs64oiz").expect("DID");
        let dependent =
            Cached { outcome: Ok("alice".to_owned()), depends_on: Some(did.clone()), ttl: Duration::from_secs(60) };
        cache.refresh("alice.test".to_owned(), async { Ok(dependent) }).await.expect("stored");
        cache.refresh("bob.test".to_owned(), async { Ok(ok("bob", Duration::from_secs(60))) }).await.expect("stored");
        cache.invalidate_dependents(&did);
        assert!(cache.get(&"alice.test".to_owned()).await.is_none());
        assert!(cache.get(&"bob.test".to_owned()).await.is_some());
    }

    #[tokio::test]
    async fn single_flight_shares_one_run_and_forgets_it_afterwards() {
        let flights = SingleFlight::<&str, usize>::default();
        let runs = AtomicUsize::new(0);
        let work = || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            runs.fetch_add(1, Ordering::SeqCst) + 1
        };
        let results = futures::future::join_all((0..10).map(|_| flights.run("k", work()))).await;
        assert_eq!(results, vec![1; 10]);
        assert_eq!(flights.run("k", work()).await, 2, "a later call runs again");
    }
}
