//! How the ingest orders identity and account events against commits of the same
//! repository, for plugins that need stream order and for plugins that do not.

use std::sync::Mutex;

use coves_appview::ingest::{Event, Ingestor};
use coves_plugin_api::{AccountEvent, CommitEvent, IngestTx, Plugin, async_trait};
use coves_tests::TestDb;
use coves_tests::events::{account, create};
use serde_json::json;

/// Records the calls it receives, in order.
struct Recorder {
    name: &'static str,
    collection: &'static [&'static str],
    strict: bool,
    calls: Mutex<Vec<String>>,
}

#[async_trait]
impl Plugin for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn collections(&self) -> &'static [&'static str] {
        self.collection
    }

    fn wants_account_events(&self) -> bool {
        true
    }

    fn orders_account_events_with_commits(&self) -> bool {
        self.strict
    }

    async fn apply(&self, _tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<()> {
        let rkeys: Vec<&str> = batch.iter().map(|c| c.rkey.as_str()).collect();
        self.record(format!("commits {}", rkeys.join(",")));
        Ok(())
    }

    async fn on_account(&self, _tx: &mut IngestTx<'_>, events: &[AccountEvent]) -> anyhow::Result<()> {
        let dids: Vec<&str> = events.iter().map(|e| &e.did.as_str()[8..]).collect();
        self.record(format!("accounts {}", dids.join(",")));
        Ok(())
    }
}

impl Recorder {
    fn record(&self, call: String) {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(call);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

static STRICT: Recorder =
    Recorder { name: "strict", collection: &["test.order.strict"], strict: true, calls: Mutex::new(Vec::new()) };
static RELAXED: Recorder =
    Recorder { name: "relaxed", collection: &["test.order.relaxed"], strict: false, calls: Mutex::new(Vec::new()) };

const X: &str = "did:plc:xxxxxxxxxxxxxxxxxxxxxxxx";
const Y: &str = "did:plc:yyyyyyyyyyyyyyyyyyyyyyyy";

/// A commit of X, X's account event, another commit of X, a commit of Y.
fn stream(collection: &str) -> Vec<Event> {
    vec![
        create(X, collection, "3la0000000001", "3la0000000001", 1, json!({})),
        account(X, false, Some("deactivated"), 2),
        create(X, collection, "3la0000000002", "3la0000000002", 3, json!({})),
        create(Y, collection, "3la0000000003", "3la0000000003", 4, json!({})),
    ]
}

async fn ingest(plugin: &'static Recorder) -> Vec<String> {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let ingestor = Ingestor::new(vec![plugin]).expect("ingestor");
    ingestor.apply_batch(&mut conn, "jetstream", &stream(plugin.collection[0]), 4).await.expect("batch applies");
    plugin.calls()
}

#[tokio::test]
async fn a_plugin_that_needs_repository_order_gets_the_batch_split_there() {
    assert_eq!(
        ingest(&STRICT).await,
        ["commits 3la0000000001", "accounts xxxxxxxxxxxxxxxxxxxxxxxx", "commits 3la0000000002,3la0000000003"],
        "X's second commit follows its account event"
    );
}

#[tokio::test]
async fn a_plugin_whose_account_handling_commutes_gets_whole_batches() {
    assert_eq!(
        ingest(&RELAXED).await,
        ["commits 3la0000000001,3la0000000002,3la0000000003", "accounts xxxxxxxxxxxxxxxxxxxxxxxx"],
        "one round of commits, then the account events"
    );
}
