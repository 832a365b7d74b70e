//! The linked plugins, in a deterministic order.
//!
//! `inventory` yields registrations in an unspecified order that changes between builds,
//! so plugins are sorted topologically by `depends_on`, ties broken by name.

use std::collections::{BTreeMap, BTreeSet};

use coves_plugin_api::Plugin;

// Naming each in-tree plugin crate keeps the linker from dropping its registration.
use coves_plugin_actor as _;
use coves_plugin_block as _;
use coves_plugin_comment as _;
use coves_plugin_community as _;
use coves_plugin_feed as _;
use coves_plugin_post as _;
use coves_plugin_subscription as _;
use coves_plugin_unfurl as _;
use coves_plugin_vote as _;

/// Why the plugin set is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PluginSetError {
    /// Two plugins share a name.
    #[error("two linked plugins are both named `{0}`; plugin names must be unique")]
    DuplicateName(String),
    /// A dependency is not linked.
    #[error(
        "plugin `{plugin}` depends on `{missing}`, which is not linked into this binary; add its crate and `use` it in server/src/plugins.rs"
    )]
    MissingDependency {
        /// The dependent plugin.
        plugin: String,
        /// The absent dependency.
        missing: String,
    },
    /// Dependencies form a cycle.
    #[error("plugins {0:?} depend on each other in a cycle")]
    Cycle(Vec<String>),
}

/// Every plugin linked into this binary, ordered.
pub fn linked() -> Result<Vec<&'static dyn Plugin>, PluginSetError> {
    order(coves_plugin_api::registered_plugins())
}

/// Orders plugins so each comes after its dependencies; among ready plugins, by name.
pub fn order(plugins: Vec<&'static dyn Plugin>) -> Result<Vec<&'static dyn Plugin>, PluginSetError> {
    let mut by_name: BTreeMap<&'static str, &'static dyn Plugin> = BTreeMap::new();
    for plugin in plugins {
        if by_name.insert(plugin.name(), plugin).is_some() {
            return Err(PluginSetError::DuplicateName(plugin.name().to_owned()));
        }
    }
    for plugin in by_name.values() {
        if let Some(missing) = plugin.depends_on().iter().find(|d| !by_name.contains_key(*d)) {
            return Err(PluginSetError::MissingDependency {
                plugin: plugin.name().to_owned(),
                missing: (*missing).to_owned(),
            });
        }
    }
    let mut ordered = Vec::with_capacity(by_name.len());
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    while ordered.len() < by_name.len() {
        let next =
            by_name.values().find(|p| !placed.contains(p.name()) && p.depends_on().iter().all(|d| placed.contains(d)));
        match next {
            Some(plugin) => {
                placed.insert(plugin.name());
                ordered.push(*plugin);
            }
            None => {
                let stuck = by_name.keys().filter(|n| !placed.contains(*n)).map(|n| (*n).to_owned()).collect();
                return Err(PluginSetError::Cycle(stuck));
            }
        }
    }
    Ok(ordered)
}
