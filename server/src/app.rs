//! Putting the server together: state, tasks, listener and orderly shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_graphql::dynamic::Schema;
use coves_plugin_api::live::{LiveHub, LiveSettings};
use coves_plugin_api::{AppContext, BackgroundTask, DbPool, IdentityResolver, InstanceInfo, Plugin, TaskContext};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::ServiceAuth;
use crate::config::{Config, Role};
use crate::db::embedded::EmbeddedPostgres;
use crate::graphql::{GraphqlLimits, SocketSettings, build_schema};
use crate::ingest::{IngestConfig, IngestStatus, Ingestor};
use crate::jetstream::client::ClientConfig;
use crate::xrpc::XrpcRouter;
use crate::{db, http, ingest, plugins, shutdown, telemetry};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The plugins' view of the server.
    pub app: AppContext,
    /// Verifies viewers' service-auth tokens (audience: the instance DID).
    pub auth: ServiceAuth,
    /// The merged GraphQL schema.
    pub schema: Schema,
    /// Its limits (to explain limit errors).
    pub graphql_limits: GraphqlLimits,
    /// Limits of GraphQL websockets.
    pub socket: SocketSettings,
    /// Every XRPC method.
    pub xrpc: XrpcRouter,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Ingest progress, when this process ingests; `/ready` checks its lag.
    pub ingest: Option<(Arc<IngestStatus>, Duration)>,
    /// Whether the GraphQL and XRPC routes are served (not in ingest-only processes).
    pub serve_api: bool,
    /// Whether the browser playground is served (with the API only).
    pub serve_playground: bool,
}

impl AppState {
    /// Builds the state for `plugins` over `pool`, with default live settings (see
    /// [`AppState::with_live`]).
    pub fn new(
        pool: DbPool,
        plugins: &[&'static dyn Plugin],
        instance: InstanceInfo,
        identity: Arc<dyn IdentityResolver>,
        graphql_limits: GraphqlLimits,
    ) -> anyhow::Result<Self> {
        Self::with_live(
            pool,
            plugins,
            instance,
            identity,
            graphql_limits,
            LiveSettings::default(),
            SocketSettings::default(),
        )
    }

    /// Builds the state with chosen live-value and websocket limits.
    pub fn with_live(
        pool: DbPool,
        plugins: &[&'static dyn Plugin],
        instance: InstanceInfo,
        identity: Arc<dyn IdentityResolver>,
        graphql_limits: GraphqlLimits,
        live: LiveSettings,
        socket: SocketSettings,
    ) -> anyhow::Result<Self> {
        let auth = ServiceAuth::new(identity.clone(), instance.did.clone());
        let live = LiveHub::new(pool.clone(), live);
        let app = AppContext { pool, instance: Arc::new(instance), identity, live };
        let schema = build_schema(plugins, Some(app.clone()), graphql_limits)?;
        let xrpc = XrpcRouter::new(plugins)?;
        Ok(Self {
            app,
            auth,
            schema,
            graphql_limits,
            socket,
            xrpc,
            metrics: telemetry::metrics_handle(),
            ingest: None,
            serve_api: true,
            serve_playground: true,
        })
    }
}

/// A started server: its address and the handle that stops it.
pub struct RunningServer {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl RunningServer {
    /// Serves `state` on `listener` and starts the plugins' background tasks.
    pub fn start(
        listener: TcpListener,
        state: AppState,
        plugin_tasks: Vec<BackgroundTask>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let tasks = TaskTracker::new();
        for task in plugin_tasks {
            let ctx = TaskContext { app: state.app.clone(), shutdown: shutdown.clone() };
            let name = task.name;
            tasks.spawn(async move {
                if let Err(e) = (task.run)(ctx).await {
                    tracing::error!(task = name, error = %format!("{e:#}"), "background task failed");
                }
            });
        }
        let router = http::router(state);
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tasks.close();
        Ok(Self { addr, shutdown, tasks })
    }

    /// Asks everything to stop and waits (bounded) until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Waits until the shutdown token is cancelled and every task has finished.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        // Open websockets keep axum's graceful shutdown waiting; bound it.
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait()).await.is_err() {
            tracing::warn!("some tasks did not stop within 10 s; exiting anyway");
        }
    }
}

impl Drop for RunningServer {
    /// A server handle that goes away takes its server with it.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `coves-appview serve`: runs until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    config.validate()?;
    let plugins = plugins::linked()?;
    let (database_url, embedded) = database(&config).await?;
    let result = serve_with(&config, &plugins, &database_url).await;
    if let Some(pg) = embedded {
        pg.stop().await.context("stopping the embedded PostgreSQL")?;
    }
    result
}

async fn serve_with(config: &Config, plugins: &[&'static dyn Plugin], database_url: &str) -> anyhow::Result<()> {
    let applied = db::migrate::run(database_url, plugins).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let pool = db::connect(database_url, config.database.pool_size, config.database.pool_timeout)?;
    let instance = InstanceInfo {
        did: config.instance.instance_did.clone(),
        domains: config.instance_domains(),
        skip_did_web_verification: config.instance.skip_did_web_verification,
        image_proxy_url: config.instance.image_proxy_url.as_ref().map(|u| u.trim().trim_end_matches('/').to_owned()),
        unfurl: config.unfurl.settings()?,
    };
    let identity = crate::identity::Resolver::new(config.identity_config()?, pool.clone())?;
    let limits =
        GraphqlLimits { max_depth: config.http.graphql_max_depth, max_complexity: config.http.graphql_max_complexity };
    let mut tasks: Vec<BackgroundTask> = plugins.iter().flat_map(|p| p.tasks()).collect();
    tasks.push(identity.purge_task());
    let ingest_instance = instance.clone();
    let mut state = AppState::with_live(
        pool.clone(),
        plugins,
        instance,
        identity,
        limits,
        config.live.hub(),
        config.live.socket(),
    )?;
    state.serve_api = config.ingest.role != Role::Ingest;
    state.serve_playground = config.http.playground;
    if state.serve_api {
        tasks.push(live_task(database_url));
    }
    if config.ingest.role != Role::Api {
        let status = Arc::new(IngestStatus::default());
        state.ingest = Some((status.clone(), config.ingest.ready_max_lag));
        tasks.extend(ingest_tasks(config, plugins, &ingest_instance, pool.clone(), status)?);
    }
    let listener = TcpListener::bind(config.http.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {} (LISTEN_ADDR)", config.http.listen_addr))?;
    let shutdown = CancellationToken::new();
    shutdown::cancel_on_signal(shutdown.clone());
    let server = RunningServer::start(listener, state, tasks, shutdown)?;
    tracing::info!(addr = %server.addr, plugins = ?plugins.iter().map(|p| p.name()).collect::<Vec<_>>(), "serving GraphQL at /graphql and XRPC at /xrpc");
    server.wait().await;
    pool.close();
    tracing::info!("stopped");
    Ok(())
}

/// Live values: the listener of the ingest's announcements and the hub's flusher.
pub fn live_task(database_url: &str) -> BackgroundTask {
    let database_url = database_url.to_owned();
    BackgroundTask::new("live values", move |ctx| crate::live::run(ctx, database_url))
}

fn ingest_tasks(
    config: &Config,
    plugins: &[&'static dyn Plugin],
    instance: &InstanceInfo,
    pool: DbPool,
    status: Arc<IngestStatus>,
) -> anyhow::Result<Vec<BackgroundTask>> {
    let ingestor = Arc::new(Ingestor::with_instance(plugins.to_vec(), instance)?);
    let client = ClientConfig {
        urls: config.jetstream_urls(),
        collections: ingestor.collections(),
        compress: config.jetstream.compress,
        rewind: config.jetstream.rewind,
        watchdog: config.jetstream.watchdog,
        max_message_bytes: config.jetstream.max_message_bytes,
        backoff_initial: Duration::from_millis(500),
        backoff_max: Duration::from_secs(60),
    };
    let batching = IngestConfig { batch_size: config.ingest.batch_size, batch_wait: config.ingest.batch_wait };
    Ok(ingest::tasks(pool, ingestor, client, batching, status))
}

/// The configured database, or a private cluster started for this run.
pub async fn database(config: &Config) -> anyhow::Result<(String, Option<EmbeddedPostgres>)> {
    match &config.database.database_url {
        Some(url) => Ok((url.clone(), None)),
        None => {
            tracing::info!(data_dir = %config.database.data_dir.display(), "DATABASE_URL is not set; starting the embedded PostgreSQL");
            let pg = EmbeddedPostgres::start(&config.database.data_dir).await?;
            Ok((pg.database_url().to_owned(), Some(pg)))
        }
    }
}
