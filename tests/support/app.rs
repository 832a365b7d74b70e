//! A real server on a free loopback port over a fresh database.

use coves_appview::app::{AppState, RunningServer};
use coves_appview::graphql::GraphqlLimits;
use coves_appview::ingest::{BatchOutcome, Event, Ingestor};
use coves_plugin_api::{DbPool, InstanceInfo, Plugin};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::db::{TestDb, linked_plugins};

/// A started server and what a test needs to talk to it.
pub struct TestApp {
    /// The test's own database.
    pub db: TestDb,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The server's pool (for direct assertions).
    pub pool: DbPool,
    /// Applies events the way the ingest does.
    pub ingestor: Ingestor,
    /// A plain HTTP client.
    pub http: reqwest::Client,
    server: Option<RunningServer>,
}

/// An HTTP answer with its JSON body.
#[derive(Debug)]
pub struct JsonResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Parsed body (`Value::Null` if it was not JSON).
    pub body: Value,
}

impl TestApp {
    /// A server with every linked plugin.
    pub async fn start() -> Self {
        Self::with_plugins(linked_plugins(), GraphqlLimits::default()).await
    }

    /// A server with a chosen plugin set and GraphQL limits.
    pub async fn with_plugins(plugins: Vec<&'static dyn Plugin>, limits: GraphqlLimits) -> Self {
        let plugins = coves_appview::plugins::order(plugins).expect("valid plugin set");
        let db = TestDb::new().await;
        let pool = coves_appview::db::connect(db.url(), 4, std::time::Duration::from_secs(5)).expect("pool");
        let instance = InstanceInfo { did: Some("did:web:appview.test".into()), domains: vec!["coves.test".into()] };
        let state = AppState::new(pool.clone(), &plugins, instance, limits).expect("app state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let tasks = plugins.iter().flat_map(|p| p.tasks()).collect();
        let server = RunningServer::start(listener, state, tasks, CancellationToken::new()).expect("server starts");
        Self {
            base: format!("http://{}", server.addr),
            ingestor: Ingestor::new(plugins).expect("ingestor"),
            db,
            pool,
            http: reqwest::Client::new(),
            server: Some(server),
        }
    }

    /// The websocket URL of `/graphql`.
    pub fn ws_url(&self) -> String {
        format!("{}/graphql", self.base.replacen("http://", "ws://", 1))
    }

    /// Applies events in one ingest transaction.
    pub async fn ingest(&self, events: &[Event]) -> BatchOutcome {
        let mut conn = self.pool.get().await.expect("connection");
        let cursor = events.iter().map(Event::time_us).max().unwrap_or_default();
        self.ingestor.apply_batch(&mut conn, "jetstream", events, cursor).await.expect("batch applies")
    }

    /// `POST /graphql` with a query and variables; returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("POST /graphql");
        response.json().await.expect("GraphQL answers JSON")
    }

    /// `GET <path>` (path includes the query string).
    pub async fn get(&self, path: &str) -> JsonResponse {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("GET");
        into_json(response).await
    }

    /// `POST <path>` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> JsonResponse {
        let response = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.expect("POST");
        into_json(response).await
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

async fn into_json(response: reqwest::Response) -> JsonResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    JsonResponse { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}
