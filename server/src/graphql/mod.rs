//! The merged GraphQL schema and its HTTP/websocket endpoint.

pub mod http;
pub mod schema;

pub use schema::{GraphqlLimits, build_schema};
