//! The Coves AppView server: configuration, database, ingest, GraphQL and XRPC.

pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod directory;
pub mod generate;
pub mod graphql;
pub mod http;
pub mod identity;
pub mod ingest;
pub mod jetstream;
pub mod live;
pub mod playground;
pub mod plugins;
pub mod replay;
pub mod shutdown;
pub mod telemetry;
pub mod xrpc;

/// The merged GraphQL SDL of every linked plugin (what `schema.graphql` holds).
pub fn schema_sdl() -> anyhow::Result<String> {
    let plugins = plugins::linked()?;
    let schema = graphql::build_schema(&plugins, None, graphql::GraphqlLimits::default())?;
    Ok(schema.sdl())
}
