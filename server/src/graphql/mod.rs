//! The merged GraphQL schema and its HTTP/websocket endpoint.

pub mod http;
pub mod schema;
pub mod socket;

pub use schema::{GraphqlLimits, build_schema};
pub use socket::SocketSettings;
