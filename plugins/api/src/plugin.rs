//! The [`Plugin`] trait and its link-time registration.

use std::collections::BTreeSet;
use std::fmt::Display;

use diesel_async::AsyncPgConnection;
use diesel_migrations::EmbeddedMigrations;

use crate::event::{AccountEvent, CommitEvent, IdentityEvent};
use crate::graphql::{Registrar, RegistrarError};
use crate::task::BackgroundTask;
use crate::xrpc::XrpcMethod;

/// One lexicon's (or one aggregate view's) part of the AppView.
///
/// Every method has a default except [`Plugin::name`], so a plugin implements only what
/// it contributes. Ingest methods run inside the server's batch transaction: they must be
/// **idempotent** (a crash replays events) and **order-tolerant** (a vote may arrive
/// before its post).
#[async_trait::async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Unique, stable name (lowercase, e.g. `vote`). Prefixes its migration versions.
    fn name(&self) -> &'static str;

    /// Plugins whose tables, types or migrations this one builds on. They are migrated,
    /// registered and fed events before this one.
    fn depends_on(&self) -> &'static [&'static str] {
        &[]
    }

    /// The record collections (exact NSIDs) this plugin consumes from Jetstream.
    fn collections(&self) -> &'static [&'static str] {
        &[]
    }

    /// Collections owned by other plugins whose commits this plugin also receives in
    /// [`Plugin::apply`], after the owner's `apply` in the same transaction (the owner must
    /// be in [`Plugin::depends_on`]). For state derived from another plugin's records (link
    /// previews of posts): read the owner's rows, which are already written, rather than
    /// trusting the commit, which may be a replay. May depend on the instance settings.
    fn observed_collections(&self, instance: &crate::context::InstanceInfo) -> Vec<&'static str> {
        let _ = instance;
        Vec::new()
    }

    /// The plugin's embedded diesel migrations. Each folder is named
    /// `<date>-<time>-<plugin>_<what>` so versions never collide across plugins.
    fn migrations(&self) -> Option<&'static EmbeddedMigrations> {
        None
    }

    /// Applies a batch of commits for [`Plugin::collections`] (and
    /// [`Plugin::observed_collections`]), in stream order, inside the ingest transaction. Invalid records are reported with [`IngestTx::skip`]; an
    /// `Err` aborts and retries the whole batch, so return one only for database failures.
    async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        let _ = (tx, batch);
        Ok(())
    }

    /// Whether [`Plugin::on_identity`] does anything. The ingest splits a batch at an
    /// identity event (to keep each repository's order) only when some plugin wants it.
    fn wants_identity_events(&self) -> bool {
        false
    }

    /// Whether [`Plugin::on_account`] does anything (see [`Plugin::wants_identity_events`]).
    fn wants_account_events(&self) -> bool {
        false
    }

    /// Whether this plugin's identity and account events must be applied in stream order
    /// with its commits of the same repository (the default). The ingest then splits a
    /// batch at such an event when that repository already has commits in it.
    ///
    /// Return `false` when [`Plugin::on_identity`] and [`Plugin::on_account`] only touch
    /// state the plugin's commits never read or write (verification flags, account
    /// status) and are themselves ordered by `time_us`: applying a batch's commits first
    /// then gives the same result, and batches stay whole.
    fn orders_account_events_with_commits(&self) -> bool {
        true
    }

    /// Handle or DID-document changes, for every account (not only this plugin's).
    async fn on_identity(&self, tx: &mut IngestTx<'_>, events: &[IdentityEvent]) -> anyhow::Result<()> {
        let _ = (tx, events);
        Ok(())
    }

    /// Account status changes (deactivated, taken down, deleted, reactivated).
    async fn on_account(&self, tx: &mut IngestTx<'_>, events: &[AccountEvent]) -> anyhow::Result<()> {
        let _ = (tx, events);
        Ok(())
    }

    /// Adds GraphQL types and fields (also fields on other plugins' types).
    fn register_graphql(&self, registrar: &mut Registrar) -> Result<(), RegistrarError> {
        let _ = registrar;
        Ok(())
    }

    /// XRPC methods served at `/xrpc/<nsid>`.
    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        Vec::new()
    }

    /// Background jobs started with the server and stopped at shutdown.
    fn tasks(&self) -> Vec<BackgroundTask> {
        Vec::new()
    }
}

/// The link-time registration record; create it with [`crate::register_plugin!`].
pub struct PluginRegistration {
    /// The registered plugin value.
    pub plugin: &'static dyn Plugin,
}

inventory::collect!(PluginRegistration);

/// Every plugin linked into this binary, in unspecified order (the server orders them by
/// dependencies, then by name).
pub fn registered_plugins() -> Vec<&'static dyn Plugin> {
    inventory::iter::<PluginRegistration>.into_iter().map(|r| r.plugin).collect()
}

/// A plugin's view of the ingest transaction.
pub struct IngestTx<'a> {
    /// The connection inside the open transaction. Write everything through it, so the
    /// batch's effects and the cursor commit together.
    pub conn: &'a mut AsyncPgConnection,
    skipped: Vec<SkippedEvent>,
    changed_subjects: BTreeSet<String>,
}

/// An event a plugin refused, with a reason for metrics and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedEvent {
    /// The record's AT-URI.
    pub uri: String,
    /// A short, stable reason used as a metrics label (e.g. `invalid_record`).
    pub reason: &'static str,
    /// Details for the log line.
    pub detail: String,
}

impl<'a> IngestTx<'a> {
    /// Wraps a connection that is inside a transaction.
    pub fn new(conn: &'a mut AsyncPgConnection) -> Self {
        Self { conn, skipped: Vec::new(), changed_subjects: BTreeSet::new() }
    }

    /// Records that an event was skipped (and why); ingestion goes on.
    pub fn skip(&mut self, event: &CommitEvent, reason: &'static str, detail: impl Display) {
        self.skipped.push(SkippedEvent { uri: event.uri().to_string(), reason, detail: detail.to_string() });
    }

    /// Announces that a subject's counts changed; the batch reports it once committed.
    pub fn subject_changed(&mut self, subject: impl Into<String>) {
        self.changed_subjects.insert(subject.into());
    }

    /// The events skipped so far in this transaction.
    pub fn skipped(&self) -> &[SkippedEvent] {
        &self.skipped
    }

    /// The subjects whose counts changed in this transaction.
    pub fn changed_subjects(&self) -> &BTreeSet<String> {
        &self.changed_subjects
    }
}
