//! PostgreSQL: the connection pool, the migration runner and the embedded cluster.

pub mod embedded;
pub mod migrate;

use std::time::Duration;

use anyhow::Context;
use coves_plugin_api::DbPool;
use deadpool::Runtime;
use deadpool::managed::Timeouts;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;

/// Builds the pool. Waiting for a connection is bounded by `wait_timeout`, so an
/// exhausted pool answers 503 instead of hanging requests.
pub fn connect(database_url: &str, max_size: usize, wait_timeout: Duration) -> anyhow::Result<DbPool> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(database_url);
    Pool::builder(manager)
        .max_size(max_size)
        .timeouts(Timeouts { wait: Some(wait_timeout), create: Some(wait_timeout), recycle: Some(wait_timeout) })
        .runtime(Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// The URL of database `name` on the server that `admin_url` points at (same host, port
/// and user; `postgres://…/<name>`). Tests and benchmarks create their databases with it.
pub fn database_url_on(admin_url: &str, name: &str) -> String {
    match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{admin_url}/{name}"),
    }
}
