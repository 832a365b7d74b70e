//! Black-box integration tests: real PostgreSQL, real HTTP and websockets.

mod actor;
mod http;
mod ingest;
mod migrations;
mod schema;
mod test_plugins;
mod vote;
mod websocket;
mod xrpc;
