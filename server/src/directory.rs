//! A local identity directory for the demo and the benchmark: a PLC directory
//! (`GET /{did}`) and a handle resolver (`com.atproto.identity.resolveHandle`) over HTTP
//! on loopback, answering for the identities named in a file of Jetstream events.
//!
//! Generated streams announce every account with an identity event (DID and handle), as
//! the network does; the directory serves a DID document claiming that handle, so the
//! server's identity checks run exactly as in production, only against a local service
//! (point `PLC_URL` and `HANDLE_RESOLVER_URL` at [`LocalDirectory::url`]).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// DID → handle, and handle → DID.
#[derive(Default)]
struct Identities {
    handles: HashMap<String, String>,
    dids: HashMap<String, String>,
}

/// A running local directory; stops when dropped.
pub struct LocalDirectory {
    url: String,
    identities: usize,
    stop: CancellationToken,
}

impl LocalDirectory {
    /// Serves the latest handle of every account with an identity event in `events`
    /// (JSONL, as Jetstream sends them).
    pub async fn start(events: &Path) -> anyhow::Result<Self> {
        let identities = Arc::new(read_identities(events)?);
        let count = identities.handles.len();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let router = Router::new()
            .route("/xrpc/com.atproto.identity.resolveHandle", get(resolve_handle))
            .route("/{did}", get(did_document))
            .with_state(identities);
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                tracing::warn!(error = %e, "local identity directory stopped");
            }
        });
        Ok(Self { url, identities: count, stop })
    }

    /// The base URL, for both `PLC_URL` and `HANDLE_RESOLVER_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many identities it serves.
    pub fn len(&self) -> usize {
        self.identities
    }

    /// Whether it serves none.
    pub fn is_empty(&self) -> bool {
        self.identities == 0
    }
}

impl Drop for LocalDirectory {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn read_identities(events: &Path) -> anyhow::Result<Identities> {
    let file = std::fs::File::open(events).with_context(|| format!("opening {}", events.display()))?;
    let mut identities = Identities::default();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        // Cheap pre-filter: most lines are commits.
        if !line.contains("\"identity\"") {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
        let identity = &event["identity"];
        if let (Some(did), Some(handle)) = (identity["did"].as_str(), identity["handle"].as_str()) {
            let handle = handle.to_ascii_lowercase();
            if let Some(old) = identities.handles.insert(did.to_owned(), handle.clone()) {
                identities.dids.remove(&old);
            }
            identities.dids.insert(handle, did.to_owned());
        }
    }
    Ok(identities)
}

async fn did_document(State(identities): State<Arc<Identities>>, UrlPath(did): UrlPath<String>) -> Response {
    match identities.handles.get(&did) {
        Some(handle) => axum::Json(json!({
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "alsoKnownAs": [format!("at://{handle}")],
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"message": format!("DID not registered: {did}")})))
            .into_response(),
    }
}

async fn resolve_handle(
    State(identities): State<Arc<Identities>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let handle = query.get("handle").map(|h| h.to_ascii_lowercase()).unwrap_or_default();
    match identities.dids.get(&handle) {
        Some(did) => axum::Json(json!({"did": did})).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "HandleNotFound", "message": format!("unable to resolve handle: {handle}")})),
        )
            .into_response(),
    }
}
