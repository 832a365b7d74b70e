//! PostgreSQL: the connection pool, the migration runner and the embedded cluster.

pub mod embedded;
pub mod migrate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use coves_plugin_api::DbPool;
use deadpool::Runtime;
use deadpool::managed::Timeouts;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures::FutureExt;

/// Builds the pool. Waiting for a connection is bounded by `wait_timeout`, so an
/// exhausted pool answers 503 instead of hanging requests.
pub fn connect(database_url: &str, max_size: usize, wait_timeout: Duration) -> anyhow::Result<DbPool> {
    connect_counting(database_url, max_size, wait_timeout, QueryCounter::default())
}

/// Like [`connect`], counting every statement the pool's connections run into `counter`
/// (and the `db_queries_total` metric): tests assert how many queries a request costs.
pub fn connect_counting(
    database_url: &str,
    max_size: usize,
    wait_timeout: Duration,
    counter: QueryCounter,
) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    // No test query before reuse: it would cost every checkout a round trip. A connection
    // whose socket closed (a database restart) is still dropped at checkout, because
    // diesel-async reports it broken.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let counter = counter.clone();
        async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.set_instrumentation(counter);
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Pool::builder(manager)
        .max_size(max_size)
        .timeouts(Timeouts { wait: Some(wait_timeout), create: Some(wait_timeout), recycle: Some(wait_timeout) })
        .runtime(Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// Counts the statements sent by the connections it is installed on.
#[derive(Clone, Debug, Default)]
pub struct QueryCounter(Arc<AtomicU64>);

impl QueryCounter {
    /// Statements started so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Instrumentation for QueryCounter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            self.0.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("db_queries_total").increment(1);
        }
    }
}

/// The URL of database `name` on the server that `admin_url` points at (same host, port
/// and user; `postgres://…/<name>`). Tests and benchmarks create their databases with it.
pub fn database_url_on(admin_url: &str, name: &str) -> String {
    match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{admin_url}/{name}"),
    }
}
