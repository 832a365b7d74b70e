//! Signed-in viewers for the timeline: one benchmark signing key, a local PLC directory
//! that answers every benchmark actor's DID document with that key as its `#atproto`
//! key, and service-auth tokens minted with it. The API server resolves and verifies them
//! as it would on the network (`PLC_URL` points at the directory, `INSTANCE_DID` is the
//! tokens' audience); only the directory is local.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use atrium_crypto::keypair::{Did as _, Secp256k1Keypair};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The AppView's DID in the benchmark: the audience of the viewers' tokens.
pub const SERVICE_DID: &str = "did:web:appview.bench.test";

/// The PDS the benchmark's DID documents name.
const PDS: &str = "https://pds.bench.test";

/// The secp256k1 key every benchmark viewer signs with (derived from a fixed seed, so
/// runs are alike).
pub struct BenchKey {
    key: Secp256k1Keypair,
}

impl BenchKey {
    pub fn new() -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(0xC0FE);
        loop {
            // Almost every 32-byte string is a valid scalar; draw again for the rare one
            // that is not.
            if let Ok(key) = Secp256k1Keypair::import(&rng.random::<[u8; 32]>()) {
                return Self { key };
            }
        }
    }

    /// The public key as a multikey (`z…`), a DID document's `publicKeyMultibase`.
    pub fn multikey(&self) -> String {
        self.key.did().trim_start_matches("did:key:").to_owned()
    }

    /// An atproto service-auth token (ES256K) from `viewer` for [`SERVICE_DID`], scoped to
    /// the XRPC method `lxm`, valid for `valid_secs`; as a PDS's
    /// `com.atproto.server.getServiceAuth` mints them.
    pub fn token(&self, viewer: &str, lxm: &str, valid_secs: i64) -> anyhow::Result<String> {
        let now = unix_now();
        let header = json!({"typ": "JWT", "alg": "ES256K"});
        let claims = json!({
            "iss": viewer,
            "aud": SERVICE_DID,
            "lxm": lxm,
            "iat": now,
            "exp": now + valid_secs,
            "jti": format!("{:032x}", rand::random::<u128>()),
        });
        let signing_input = format!("{}.{}", encode_json(&header)?, encode_json(&claims)?);
        let signature = self.key.sign(signing_input.as_bytes()).context("signing a service-auth token")?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn encode_json(value: &Value) -> anyhow::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(value)?))
}

fn unix_now() -> i64 {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// What the directory serves: each actor's handle, and the one signing key.
struct Documents {
    handles: HashMap<String, String>,
    multikey: String,
}

/// A local PLC directory (`GET /{did}`) answering the DID document of every actor of the
/// benchmark database; stops when dropped.
pub struct BenchDirectory {
    pub url: String,
    pub identities: usize,
    stop: CancellationToken,
}

#[derive(QueryableByName)]
struct Actor {
    #[diesel(sql_type = Text)]
    did: String,
    #[diesel(sql_type = Text)]
    handle: String,
}

impl BenchDirectory {
    /// Serves the documents of the actors in the database, with `key` as their `#atproto`
    /// signing key.
    pub async fn start(conn: &mut AsyncPgConnection, key: &BenchKey) -> anyhow::Result<Self> {
        let actors: Vec<Actor> =
            sql_query("SELECT did, handle FROM actors WHERE did LIKE 'did:plc:%' AND handle IS NOT NULL")
                .load(conn)
                .await?;
        let identities = actors.len();
        let documents = Arc::new(Documents {
            handles: actors.into_iter().map(|a| (a.did, a.handle)).collect(),
            multikey: key.multikey(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let router = Router::new().route("/{did}", get(did_document)).with_state(documents);
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                eprintln!("the benchmark's PLC directory stopped: {e}");
            }
        });
        Ok(Self { url, identities, stop })
    }
}

impl Drop for BenchDirectory {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A did:plc document as plc.directory serves it.
async fn did_document(State(documents): State<Arc<Documents>>, Path(did): Path<String>) -> Response {
    let Some(handle) = documents.handles.get(&did) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": format!("DID not registered: {did}")})))
            .into_response();
    };
    axum::Json(json!({
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
            "https://w3id.org/security/suites/secp256k1-2019/v1"
        ],
        "id": did,
        "alsoKnownAs": [format!("at://{handle}")],
        "verificationMethod": [{
            "id": format!("{did}#atproto"),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": documents.multikey,
        }],
        "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": PDS}],
    }))
    .into_response()
}
