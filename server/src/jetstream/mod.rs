//! Jetstream v1: the wire format, its zstd compression, and the client that follows it.

pub mod client;
pub mod compression;
pub mod wire;
