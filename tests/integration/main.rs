//! Black-box integration tests: real PostgreSQL, real HTTP and websockets.

mod actor;
mod auth;
mod block;
mod comment;
mod comment_views;
mod community;
mod feeds;
mod http;
mod identity;
mod ingest;
mod ingest_order;
mod live;
mod migrations;
mod playground;
mod post;
mod post_reads;
mod post_views;
mod schema;
mod subscription;
mod test_plugins;
mod unfurl;
mod vote;
mod websocket;
mod write_directly;
mod xrpc;
