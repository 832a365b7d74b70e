//! The contract between the Coves AppView server and its plugins.
//!
//! A plugin owns one lexicon (or one aggregate view): it consumes Jetstream events for
//! its collections, keeps its own tables (with embedded migrations), and contributes
//! GraphQL types and fields, XRPC methods and background tasks. Plugins are linked at
//! compile time and found through [`inventory`]; see [`register_plugin!`].

pub mod community_relation;
pub mod context;
pub mod cursor;
pub mod error;
pub mod event;
pub mod graphql;
pub mod graphql_types;
pub mod identifiers;
pub mod identity;
pub mod images;
pub mod live;
pub mod loader;
pub mod plugin;
pub mod ranking;
pub mod syntax;
pub mod task;
pub mod views;
pub mod write_directly;
pub mod xrpc;

pub use context::{AppContext, DbConn, DbPool, InstanceInfo, OembedProvider, UnfurlSettings, Viewer, skip_commit_wait};
pub use error::ApiError;
pub use event::{ACTIVE_STATUS, AccountEvent, CommitEvent, CommitOp, IdentityEvent, store_account_status};
pub use graphql::{Registrar, RegistrarError};
pub use identity::{DidDocument, Freshness, IdentityError, IdentityResolver};
pub use plugin::{IngestTx, Plugin, PluginRegistration, SkippedEvent, registered_plugins};
pub use task::{BackgroundTask, TaskContext, poll_rounds};
pub use write_directly::{PdsMethod, WriteDirectly};
pub use xrpc::{QueryParams, XrpcHandler, XrpcKind, XrpcMethod, XrpcRequest, XrpcResult};

// Re-exported so plugin crates use exactly the versions the server was built with.
pub use async_graphql;
pub use async_trait::async_trait;
pub use diesel;
pub use diesel_async;
pub use diesel_migrations;
pub use inventory;

/// Registers a plugin value with the server at link time.
///
/// ```ignore
/// pub struct VotePlugin;
/// coves_plugin_api::register_plugin!(VotePlugin);
/// ```
///
/// The value must be a constant expression (usually a unit struct). The server binary
/// must also name the crate (`use coves_plugin_vote as _;`), or the linker drops it.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:expr) => {
        $crate::inventory::submit! {
            $crate::PluginRegistration { plugin: &$plugin }
        }
    };
}
