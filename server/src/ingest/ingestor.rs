//! Routing events to plugins and applying a batch in one transaction.

use std::collections::{HashMap, HashSet};

use coves_plugin_api::syntax::Did;
use coves_plugin_api::{AccountEvent, CommitEvent, IdentityEvent, IngestTx, InstanceInfo, Plugin, SkippedEvent};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::Event;

/// What a committed batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Events handed to plugins.
    pub applied: usize,
    /// Commits for collections no plugin consumes.
    pub unrouted: usize,
    /// Events the plugins refused, with reasons.
    pub skipped: Vec<SkippedEvent>,
    /// Subjects whose live counts changed.
    pub changed_subjects: Vec<String>,
}

/// Routes events to plugins by collection and applies them.
pub struct Ingestor {
    plugins: Vec<&'static dyn Plugin>,
    /// Per collection, the plugins receiving its commits: the owner, then its observers.
    routes: HashMap<&'static str, Vec<usize>>,
    wants_identity: bool,
    wants_account: bool,
    /// Some plugin needs identity/account events in order with its commits of the same
    /// repository, so batches are split where that order would otherwise change.
    keeps_repo_order: bool,
}

impl Ingestor {
    /// Builds the routing table with the default instance settings (see
    /// [`Ingestor::with_instance`]).
    pub fn new(plugins: Vec<&'static dyn Plugin>) -> anyhow::Result<Self> {
        Self::with_instance(plugins, &InstanceInfo::default())
    }

    /// Builds the routing table. A collection belongs to one plugin; plugins come ordered.
    /// Observers ([`Plugin::observed_collections`], asked with `instance`) get the commits
    /// of a collection after its owner, so they must come after it.
    pub fn with_instance(plugins: Vec<&'static dyn Plugin>, instance: &InstanceInfo) -> anyhow::Result<Self> {
        let mut routes: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for (index, plugin) in plugins.iter().enumerate() {
            for collection in plugin.collections() {
                if let Some(other) = routes.insert(*collection, vec![index]) {
                    anyhow::bail!(
                        "collection {collection} is consumed by both plugin `{}` and plugin `{}`",
                        plugins[other[0]].name(),
                        plugin.name()
                    );
                }
            }
        }
        for (index, plugin) in plugins.iter().enumerate() {
            for collection in plugin.observed_collections(instance) {
                // A collection nobody owns here is not asked for, so there is nothing to observe.
                let Some(targets) = routes.get_mut(collection) else { continue };
                if targets[0] > index {
                    anyhow::bail!(
                        "plugin `{}` observes {collection}, owned by plugin `{}`, but is ordered before it; add it to depends_on",
                        plugin.name(),
                        plugins[targets[0]].name()
                    );
                }
                if !targets.contains(&index) {
                    targets.push(index);
                }
            }
        }
        let wants_identity = plugins.iter().any(|p| p.wants_identity_events());
        let wants_account = plugins.iter().any(|p| p.wants_account_events());
        let keeps_repo_order = plugins
            .iter()
            .any(|p| (p.wants_identity_events() || p.wants_account_events()) && p.orders_account_events_with_commits());
        Ok(Self { plugins, routes, wants_identity, wants_account, keeps_repo_order })
    }

    /// The collections some plugin consumes, sorted: Jetstream's `wantedCollections`.
    pub fn collections(&self) -> Vec<String> {
        let mut collections: Vec<String> = self.routes.keys().map(|c| (*c).to_owned()).collect();
        collections.sort();
        collections
    }

    /// Applies `events` (in stream order) and moves `stream`'s cursor to `cursor`, in one
    /// transaction. The cursor may be past the last event (skipped messages count too).
    ///
    /// Consecutive commits are grouped per plugin. Identity and account events go to the
    /// plugins that want them, after the segment's commits. When some plugin needs them in
    /// order with its commits ([`Plugin::orders_account_events_with_commits`]), a commit
    /// that follows an identity or account event of its repository starts a new segment,
    /// so each repository's order is kept.
    pub async fn apply_batch(
        &self,
        conn: &mut AsyncPgConnection,
        stream: &str,
        events: &[Event],
        cursor: i64,
    ) -> anyhow::Result<BatchOutcome> {
        conn.transaction::<_, anyhow::Error, _>(async |conn| {
            let mut tx = IngestTx::new(conn);
            let mut outcome = BatchOutcome::default();
            let mut segment = Segment::new(self.plugins.len());
            for event in events {
                match event {
                    Event::Commit(commit) => match self.routes.get(commit.collection.as_str()) {
                        Some(targets) => {
                            if self.keeps_repo_order && segment.account_dids.contains(&commit.did) {
                                self.flush(&mut tx, &mut segment).await?;
                            }
                            for &index in targets {
                                segment.commits[index].push(commit.clone());
                            }
                            outcome.applied += 1;
                        }
                        None => outcome.unrouted += 1,
                    },
                    Event::Identity(identity) if self.wants_identity => {
                        if self.keeps_repo_order {
                            segment.account_dids.insert(identity.did.clone());
                        }
                        segment.identities.push(identity.clone());
                        outcome.applied += 1;
                    }
                    Event::Account(account) if self.wants_account => {
                        if self.keeps_repo_order {
                            segment.account_dids.insert(account.did.clone());
                        }
                        segment.accounts.push(account.clone());
                        outcome.applied += 1;
                    }
                    // No plugin acts on it: nothing to apply, nothing to order.
                    Event::Identity(_) | Event::Account(_) => outcome.applied += 1,
                }
            }
            self.flush(&mut tx, &mut segment).await?;
            save_cursor(tx.conn, stream, cursor).await?;
            outcome.skipped = tx.skipped().to_vec();
            outcome.changed_subjects = tx.changed_subjects().iter().cloned().collect();
            // Last, so the commit time it stamps is as close to the commit as can be.
            crate::live::announce(tx.conn, &outcome.changed_subjects).await?;
            Ok(outcome)
        })
        .await
    }

    /// Applies a segment: per plugin its commits, then identity and account events. When
    /// repository order matters, no commit in a segment follows an identity or account
    /// event of its repository (the loop flushes first), so this order keeps it.
    async fn flush(&self, tx: &mut IngestTx<'_>, segment: &mut Segment) -> anyhow::Result<()> {
        for (plugin, batch) in self.plugins.iter().zip(segment.commits.iter_mut()) {
            if !batch.is_empty() {
                plugin.apply(tx, batch).await?;
                batch.clear();
            }
        }
        if !segment.identities.is_empty() {
            for plugin in self.plugins.iter().filter(|p| p.wants_identity_events()) {
                plugin.on_identity(tx, &segment.identities).await?;
            }
            segment.identities.clear();
        }
        if !segment.accounts.is_empty() {
            for plugin in self.plugins.iter().filter(|p| p.wants_account_events()) {
                plugin.on_account(tx, &segment.accounts).await?;
            }
            segment.accounts.clear();
        }
        segment.account_dids.clear();
        Ok(())
    }
}

/// Events gathered for one round of plugin calls.
struct Segment {
    /// Commits per plugin (indexed like `Ingestor::plugins`), in stream order.
    commits: Vec<Vec<CommitEvent>>,
    identities: Vec<IdentityEvent>,
    accounts: Vec<AccountEvent>,
    /// Repositories with an identity or account event in this segment.
    account_dids: HashSet<Did>,
}

impl Segment {
    fn new(plugins: usize) -> Self {
        Self {
            commits: vec![Vec::new(); plugins],
            identities: Vec::new(),
            accounts: Vec::new(),
            account_dids: HashSet::new(),
        }
    }
}

async fn save_cursor(conn: &mut AsyncPgConnection, stream: &str, time_us: i64) -> anyhow::Result<()> {
    // GREATEST: a replayed (older) batch never moves the cursor backwards.
    diesel::sql_query(
        "INSERT INTO ingest_cursor (stream, time_us) VALUES ($1, $2) \
         ON CONFLICT (stream) DO UPDATE SET time_us = GREATEST(ingest_cursor.time_us, EXCLUDED.time_us), updated_at = now()",
    )
    .bind::<Text, _>(stream)
    .bind::<BigInt, _>(time_us)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored cursor of `stream`, if any.
pub async fn load_cursor(conn: &mut AsyncPgConnection, stream: &str) -> anyhow::Result<Option<i64>> {
    use diesel::OptionalExtension;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        time_us: i64,
    }
    let row = diesel::sql_query("SELECT time_us FROM ingest_cursor WHERE stream = $1")
        .bind::<Text, _>(stream)
        .get_result::<Row>(conn)
        .await
        .optional()?;
    Ok(row.map(|r| r.time_us))
}
