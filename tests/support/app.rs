//! A real server on a free loopback port over a fresh database.

use std::sync::Arc;

use coves_appview::app::{AppState, RunningServer};
use coves_appview::db::QueryCounter;
use coves_appview::graphql::{GraphqlLimits, SocketSettings};
use coves_appview::identity::Resolver;
use coves_appview::ingest::{BatchOutcome, Event, Ingestor};
use coves_plugin_api::live::LiveSettings;
use coves_plugin_api::{AppContext, DbPool, InstanceInfo, Plugin};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::db::{TestDb, linked_plugins};
use crate::network::FakeNetwork;

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
    /// What the server's plugins see (pool, instance, identity).
    pub app: AppContext,
    /// Statements the server's pool has run (requests, ingest and background tasks).
    pub queries: QueryCounter,
    /// The outside network the server's identity resolver talks to (PLC directory,
    /// handle resolution, HTTPS hosts, DNS); add identities to it.
    pub network: FakeNetwork,
    /// The server's identity resolver (also `app.identity`).
    pub identity: Arc<Resolver>,
    server: Option<RunningServer>,
}

/// Live-value and websocket limits of a test server.
#[derive(Default)]
struct Live {
    settings: LiveSettings,
    socket: SocketSettings,
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

/// Connections in a test server's pool, and how long a request waits for one.
const POOL_SIZE: usize = 4;
const POOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl TestApp {
    /// A server with every linked plugin.
    pub async fn start() -> Self {
        Self::with_plugins(linked_plugins(), GraphqlLimits::default()).await
    }

    /// A server with a chosen plugin set and GraphQL limits.
    pub async fn with_plugins(plugins: Vec<&'static dyn Plugin>, limits: GraphqlLimits) -> Self {
        Self::with_options(plugins, limits, |_| {}, true, Live::default(), POOL_SIZE).await
    }

    /// A server with chosen live-value and websocket limits.
    pub async fn with_live(settings: LiveSettings, socket: SocketSettings) -> Self {
        Self::with_options(
            linked_plugins(),
            GraphqlLimits::default(),
            |_| {},
            true,
            Live { settings, socket },
            POOL_SIZE,
        )
        .await
    }

    /// A server with every linked plugin but no background tasks, so [`TestApp::queries`]
    /// counts only what requests (and test ingests) cost.
    pub async fn without_background_tasks() -> Self {
        Self::with_options(linked_plugins(), GraphqlLimits::default(), |_| {}, false, Live::default(), POOL_SIZE).await
    }

    /// A server with every linked plugin and instance settings changed by `configure`
    /// (e.g. `skip_did_web_verification`).
    pub async fn with_instance(configure: impl FnOnce(&mut InstanceInfo)) -> Self {
        Self::with_options(linked_plugins(), GraphqlLimits::default(), configure, true, Live::default(), POOL_SIZE)
            .await
    }

    /// A server whose pool holds `pool_size` connections, without background tasks: a
    /// resolver that keeps its connection while waiting on loaders (which take their own)
    /// stalls on a pool of one.
    pub async fn with_pool_size(pool_size: usize) -> Self {
        Self::with_options(linked_plugins(), GraphqlLimits::default(), |_| {}, false, Live::default(), pool_size).await
    }

    async fn with_options(
        plugins: Vec<&'static dyn Plugin>,
        limits: GraphqlLimits,
        configure: impl FnOnce(&mut InstanceInfo),
        background_tasks: bool,
        live: Live,
        pool_size: usize,
    ) -> Self {
        let plugins = coves_appview::plugins::order(plugins).expect("valid plugin set");
        let db = TestDb::new().await;
        let queries = QueryCounter::default();
        let pool =
            coves_appview::db::connect_counting(db.url(), pool_size, POOL_TIMEOUT, queries.clone()).expect("pool");
        let mut instance = InstanceInfo {
            did: Some("did:web:appview.test".into()),
            domains: vec!["coves.test".into()],
            ..InstanceInfo::default()
        };
        configure(&mut instance);
        let network = FakeNetwork::start().await;
        let identity = Resolver::new(network.identity_config(), pool.clone()).expect("identity resolver");
        let state =
            AppState::with_live(pool.clone(), &plugins, instance, identity.clone(), limits, live.settings, live.socket)
                .expect("app state");
        let app = state.app.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        // Background tasks include the live-values listener, as in an API process.
        let tasks = if background_tasks {
            plugins.iter().flat_map(|p| p.tasks()).chain([coves_appview::app::live_task(db.url())]).collect()
        } else {
            Vec::new()
        };
        let server = RunningServer::start(listener, state, tasks, CancellationToken::new()).expect("server starts");
        Self {
            base: format!("http://{}", server.addr),
            ingestor: Ingestor::new(plugins).expect("ingestor"),
            db,
            pool,
            http: reqwest::Client::new(),
            app,
            queries,
            network,
            identity,
            server: Some(server),
        }
    }

    /// What the server's plugins and tasks see.
    pub fn app_context(&self) -> AppContext {
        self.app.clone()
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

    /// `POST /graphql` as the viewer the bearer `token` names.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/graphql", self.base))
            .header("authorization", crate::auth::bearer(token))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("POST /graphql");
        response.json().await.expect("GraphQL answers JSON")
    }

    /// `GET <path>` as the viewer the bearer `token` names.
    pub async fn get_as(&self, token: &str, path: &str) -> JsonResponse {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", crate::auth::bearer(token))
            .send()
            .await
            .expect("GET");
        into_json(response).await
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
