//! Test support: fresh databases cloned from a migrated template, a running server on a
//! free port, event factories and small protocol clients.

pub mod app;
pub mod auth;
pub mod db;
pub mod events;
pub mod forum;
pub mod ingest;
pub mod network;
pub mod ws;

pub use app::TestApp;
pub use db::TestDb;

/// `s` escaped for a URL query value.
pub fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
