//! Running the real ingest (Jetstream client + batching pipeline) against a test database,
//! and reading back what it produced.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use coves_appview::generate::{Options, Summary, generate};
use coves_appview::ingest::{IngestConfig, IngestStatus, Ingestor, load_cursor, pipeline::STREAM};
use coves_appview::jetstream::client::ClientConfig;
use coves_plugin_api::TaskContext;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use crate::TestApp;
use crate::db::linked_plugins;

/// A running ingest; stops when dropped.
pub struct IngestRun {
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl IngestRun {
    /// Stops the client and the pipeline and waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}

impl Drop for IngestRun {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Client settings for tests: fast reconnects, the given URL.
pub fn client_config(url: &str, compress: bool) -> ClientConfig {
    ClientConfig {
        urls: vec![Url::parse(url).expect("replay URL")],
        collections: Vec::new(),
        compress,
        rewind: Duration::from_millis(20),
        watchdog: Duration::from_secs(30),
        max_message_bytes: 64 * 1024,
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
    }
}

impl TestApp {
    /// Starts the real ingest tasks for this app's database.
    pub fn start_ingest(&self, mut client: ClientConfig, batch_size: usize) -> IngestRun {
        let ingestor = Arc::new(Ingestor::new(linked_plugins()).expect("ingestor"));
        client.collections = ingestor.collections();
        let config = IngestConfig { batch_size, batch_wait: Duration::from_millis(20) };
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let app = self.app_context();
        let status = Arc::new(IngestStatus::default());
        for task in coves_appview::ingest::tasks(self.pool.clone(), ingestor, client, config, status) {
            let ctx = TaskContext { app: app.clone(), shutdown: shutdown.clone() };
            tasks.spawn(async move {
                if let Err(e) = (task.run)(ctx).await {
                    panic!("ingest task {} failed: {e:#}", task.name);
                }
            });
        }
        tasks.close();
        IngestRun { shutdown, tasks }
    }

    /// Waits until the stored cursor reaches `time_us`.
    pub async fn wait_for_cursor(&self, time_us: i64, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut conn = self.pool.get().await.expect("connection");
            let cursor = load_cursor(&mut conn, STREAM).await.expect("cursor");
            if cursor.is_some_and(|c| c >= time_us) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "cursor {cursor:?} did not reach {time_us} in {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `vote_counts` as subject → (upvotes, downvotes), non-zero rows only.
    pub async fn vote_counts(&self) -> BTreeMap<String, (i64, i64)> {
        let mut conn = self.pool.get().await.expect("connection");
        coves_plugin_vote::stored_counts(&mut conn).await.expect("vote counts")
    }

    /// `comment_counts` as subject → (reply_count, thread_count), non-zero rows only.
    pub async fn comment_counts(&self) -> BTreeMap<String, (i64, i64)> {
        let mut conn = self.pool.get().await.expect("connection");
        coves_plugin_comment::stored_counts(&mut conn).await.expect("comment counts")
    }

    /// Every actor row's indexed profile fields, for whole-state comparisons.
    pub async fn actor_profiles(&self) -> BTreeMap<String, (Option<String>, Option<String>)> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            did: String,
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            display_name: Option<String>,
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            bio: Option<String>,
        }
        let mut conn = self.pool.get().await.expect("connection");
        let rows: Vec<Row> =
            diesel::sql_query("SELECT did, display_name, bio FROM actors").load(&mut conn).await.expect("actors");
        rows.into_iter().map(|r| (r.did, (r.display_name, r.bio))).collect()
    }
}

/// Writes a generated event file and returns what the generator expects.
pub fn generate_file(path: &Path, options: &Options) -> Summary {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create event file"));
    let summary = generate(options, &mut file).expect("generate events");
    std::io::Write::flush(&mut file).expect("flush");
    summary
}

/// The `time_us` of the last event in a JSONL file that the linked plugins' filter lets
/// through (their collections, plus every identity and account event): where the cursor
/// ends after ingesting the file.
pub fn last_wanted_time_us(path: &Path) -> i64 {
    let collections = Ingestor::new(linked_plugins()).expect("ingestor").collections();
    std::fs::read_to_string(path)
        .expect("event file")
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["kind"] != "commit" || collections.iter().any(|c| v["commit"]["collection"] == c.as_str()))
        .filter_map(|v| v["time_us"].as_i64())
        .max()
        .expect("at least one wanted event")
}
