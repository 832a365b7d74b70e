//! A fake outside network for identity: a PLC directory, a `resolveHandle` service, HTTPS
//! hosts for any invented domain, and a DNS server for `_atproto` TXT records. Everything
//! listens on 127.0.0.1 and speaks the real formats (JSON DID documents, TLS with a test
//! CA whose leaf certificates are minted per server name, DNS wire format), so the resolver
//! under test runs unchanged. Every request is counted, and every answer can be changed
//! while tests run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use atrium_crypto::keypair::{Did as _, Secp256k1Keypair};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use coves_appview::identity::IdentityConfig;
use coves_plugin_api::syntax::{Did, Handle};
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use rand::Rng;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use url::Url;

/// The PDS endpoint minted identities name.
pub const TEST_PDS: &str = "https://pds.coves.test";

/// A canned HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeResponse {
    /// Status code.
    pub status: u16,
    /// `content-type`.
    pub content_type: String,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl FakeResponse {
    /// `200` with a JSON body.
    pub fn json(value: &Value) -> Self {
        Self { status: 200, content_type: "application/json".into(), body: value.to_string().into_bytes() }
    }

    /// `200` with a plain-text body.
    pub fn text(body: impl Into<String>) -> Self {
        Self { status: 200, content_type: "text/plain; charset=utf-8".into(), body: body.into().into_bytes() }
    }

    /// An empty answer with `status`.
    pub fn status(status: u16) -> Self {
        Self { status, content_type: "text/plain; charset=utf-8".into(), body: Vec::new() }
    }
}

impl IntoResponse for FakeResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}

/// An identity registered on the fake network.
#[derive(Clone, Debug)]
pub struct TestIdentity {
    /// Its DID (`did:plc:…` or `did:web:…`).
    pub did: Did,
    /// Its handle (lowercase).
    pub handle: Handle,
    /// The `#atproto` signing key as a multikey (`publicKeyMultibase`).
    pub signing_key: String,
    /// The `#atproto_pds` endpoint.
    pub pds: String,
    /// The DID document being served.
    pub document: Value,
}

/// The fake network; its servers stop when it is dropped.
pub struct FakeNetwork {
    state: Arc<NetworkState>,
    http_addr: SocketAddr,
    https_addr: SocketAddr,
    dns_addr: SocketAddr,
    ca_der: Vec<u8>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct NetworkState {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// PLC directory: DID → answer.
    plc: HashMap<String, FakeResponse>,
    /// resolveHandle service: handle → DID.
    resolver: HashMap<String, String>,
    /// HTTPS: (host, path) → answer.
    https: HashMap<(String, String), FakeResponse>,
    /// DNS: name → TXT records.
    txt: HashMap<String, Vec<String>>,
    /// Request key → count.
    requests: HashMap<String, usize>,
}

impl NetworkState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, key: String) {
        *self.lock().requests.entry(key).or_default() += 1;
    }
}

impl FakeNetwork {
    /// Starts the PLC directory and resolveHandle service (HTTP), the HTTPS hosts and the
    /// DNS server, each on a free loopback port.
    pub async fn start() -> Self {
        let state = Arc::new(NetworkState::default());
        let (ca_der, tls) = test_tls().expect("a test CA and TLS configuration");

        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake PLC port");
        let http_addr = http_listener.local_addr().expect("local address");
        let plc = Router::new()
            .route("/xrpc/com.atproto.identity.resolveHandle", get(resolve_handle))
            .route("/{did}", get(plc_document))
            .with_state(state.clone());
        let http_task = tokio::spawn(async move {
            axum::serve(http_listener, plc).await.expect("fake PLC directory serves");
        });

        let https_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake HTTPS port");
        https_listener.set_nonblocking(true).expect("non-blocking listener");
        let https_addr = https_listener.local_addr().expect("local address");
        let hosts = Router::new().fallback(https_file).with_state(state.clone());
        let server = axum_server::from_tcp_rustls(
            https_listener,
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls)),
        )
        .expect("fake HTTPS server");
        let https_task = tokio::spawn(async move {
            server.serve(hosts.into_make_service()).await.expect("fake HTTPS hosts serve");
        });

        let dns_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind the fake DNS port");
        let dns_addr = dns_socket.local_addr().expect("local address");
        let dns_task = tokio::spawn(serve_dns(dns_socket, state.clone()));

        Self { state, http_addr, https_addr, dns_addr, ca_der, tasks: vec![http_task, https_task, dns_task] }
    }

    /// Resolver settings for this network: the fake PLC directory, handles through its
    /// resolveHandle service, every `*.test` host served by the fake HTTPS server and
    /// trusted through the test CA, DNS from the fake DNS server.
    pub fn identity_config(&self) -> IdentityConfig {
        IdentityConfig { handle_resolver_url: Some(self.base_url()), ..self.identity_config_without_handle_resolver() }
    }

    /// As [`FakeNetwork::identity_config`], but handles resolve by DNS TXT and HTTPS
    /// `/.well-known/atproto-did`, as in production without `HANDLE_RESOLVER_URL`.
    pub fn identity_config_without_handle_resolver(&self) -> IdentityConfig {
        IdentityConfig {
            host_overrides: vec![("*.test".to_owned(), self.https_addr)],
            extra_root_certificates: vec![self.ca_der.clone()],
            dns_nameservers: vec![self.dns_addr],
            ..IdentityConfig::new(self.base_url())
        }
    }

    /// The PLC directory's and resolveHandle service's base URL.
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}", self.http_addr)).expect("a loopback URL")
    }

    /// The test CA (DER), for clients that talk to the fake HTTPS hosts.
    pub fn ca_certificate_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// Where the fake HTTPS hosts listen.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// Mints a `did:plc` for `handle` with `signing_key` (a multikey, see
    /// [`random_signing_key`]) and registers it: its document in the PLC directory, and the
    /// handle in the resolveHandle service and at `https://<handle>/.well-known/atproto-did`.
    pub fn add_plc_identity(&self, handle: &str, signing_key: &str) -> TestIdentity {
        let did = random_plc_did();
        let identity = identity(did, handle, signing_key);
        self.put_plc_document(&identity.did, &identity.document);
        self.set_handle(identity.handle.as_str(), &identity.did);
        identity
    }

    /// Registers `did:web:<host>` with `host` as its handle: its document at
    /// `https://<host>/.well-known/did.json` and the handle as [`FakeNetwork::set_handle`] does.
    pub fn add_web_identity(&self, host: &str, signing_key: &str) -> TestIdentity {
        let did = Did::new(format!("did:web:{}", host.to_ascii_lowercase())).expect("a did:web");
        let identity = identity(did, host, signing_key);
        self.put_did_web_document(identity.handle.as_str(), &identity.document);
        self.set_handle(identity.handle.as_str(), &identity.did);
        identity
    }

    /// Moves `identity` to `new_handle`: its document now claims the new handle, the old
    /// handle no longer resolves, the new one points at the DID.
    pub fn change_handle(&self, identity: &TestIdentity, new_handle: &str) -> TestIdentity {
        let changed = TestIdentity {
            handle: Handle::new(new_handle.to_ascii_lowercase()).expect("a valid handle"),
            document: did_document(&identity.did, new_handle, &identity.signing_key, &identity.pds),
            ..identity.clone()
        };
        if identity.did.is_web() {
            self.put_did_web_document(identity.did.identifier(), &changed.document);
        } else {
            self.put_plc_document(&identity.did, &changed.document);
        }
        self.remove_handle(identity.handle.as_str());
        self.set_handle(changed.handle.as_str(), &changed.did);
        changed
    }

    /// Serves `document` for `did` in the PLC directory.
    pub fn put_plc_document(&self, did: &Did, document: &Value) {
        let mut answer = FakeResponse::json(document);
        answer.content_type = "application/did+ld+json".into();
        self.put_plc_response(did, answer);
    }

    /// Makes the PLC directory answer `response` for `did` (an error status, a huge body…).
    pub fn put_plc_response(&self, did: &Did, response: FakeResponse) {
        self.state.lock().plc.insert(did.to_string(), response);
    }

    /// The PLC directory no longer knows `did` (404).
    pub fn remove_plc_document(&self, did: &Did) {
        self.state.lock().plc.remove(did.as_str());
    }

    /// Serves `document` at `https://<host>/.well-known/did.json`.
    pub fn put_did_web_document(&self, host: &str, document: &Value) {
        self.put_https(host, "/.well-known/did.json", FakeResponse::json(document));
    }

    /// Points `handle` at `did` in the resolveHandle service and at
    /// `https://<handle>/.well-known/atproto-did` (not in DNS; see [`FakeNetwork::set_handle_dns`]).
    pub fn set_handle(&self, handle: &str, did: &Did) {
        let handle = handle.to_ascii_lowercase();
        self.state.lock().resolver.insert(handle.clone(), did.to_string());
        self.put_https(&handle, "/.well-known/atproto-did", FakeResponse::text(format!("{did}\n")));
    }

    /// Points `handle` at `did` with a DNS TXT record `_atproto.<handle>` = `did=<did>`.
    pub fn set_handle_dns(&self, handle: &str, did: &Did) {
        self.set_txt(&format!("_atproto.{handle}"), vec![format!("did={did}")]);
    }

    /// Sets the TXT records of `name` (replacing any).
    pub fn set_txt(&self, name: &str, records: Vec<String>) {
        self.state.lock().txt.insert(dns_key(name), records);
    }

    /// `handle` no longer resolves by any method.
    pub fn remove_handle(&self, handle: &str) {
        let handle = handle.to_ascii_lowercase();
        let mut inner = self.state.lock();
        inner.resolver.remove(&handle);
        inner.txt.remove(&dns_key(&format!("_atproto.{handle}")));
        inner.https.remove(&(handle, "/.well-known/atproto-did".to_owned()));
    }

    /// Serves `response` at `https://<host><path>`.
    pub fn put_https(&self, host: &str, path: &str, response: FakeResponse) {
        self.state.lock().https.insert((host.to_ascii_lowercase(), path.to_owned()), response);
    }

    /// `https://<host><path>` answers 404 again.
    pub fn remove_https(&self, host: &str, path: &str) {
        self.state.lock().https.remove(&(host.to_ascii_lowercase(), path.to_owned()));
    }

    /// Requests the PLC directory received for `did`.
    pub fn plc_requests(&self, did: &Did) -> usize {
        self.requests(&format!("plc /{did}"))
    }

    /// resolveHandle requests received for `handle`.
    pub fn resolver_requests(&self, handle: &str) -> usize {
        self.requests(&format!("resolveHandle {}", handle.to_ascii_lowercase()))
    }

    /// Requests received for `https://<host><path>`.
    pub fn https_requests(&self, host: &str, path: &str) -> usize {
        self.requests(&format!("https://{}{path}", host.to_ascii_lowercase()))
    }

    /// DNS queries received for `name` (any record type).
    pub fn dns_queries(&self, name: &str) -> usize {
        self.requests(&format!("dns {}", dns_key(name)))
    }

    /// Requests received under `key` (`plc /<did>`, `resolveHandle <handle>`,
    /// `https://<host><path>`, `dns <name>`).
    pub fn requests(&self, key: &str) -> usize {
        self.state.lock().requests.get(key).copied().unwrap_or_default()
    }

    /// Every request and query received so far.
    pub fn total_requests(&self) -> usize {
        self.state.lock().requests.values().sum()
    }
}

impl Drop for FakeNetwork {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A random, well-formed `did:plc` (24 characters of base32 `a-z2-7`).
pub fn random_plc_did() -> Did {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::rng();
    let id: String = (0..24).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
    Did::new(format!("did:plc:{id}")).expect("a valid did:plc")
}

/// A fresh secp256k1 public key as a multikey (`zQ3s…`), the form `publicKeyMultibase` holds.
pub fn random_signing_key() -> String {
    let mut rng = rand::rng();
    loop {
        let secret: [u8; 32] = rng.random();
        // A random scalar is out of range with negligible probability; draw again then.
        if let Ok(keypair) = Secp256k1Keypair::import(&secret) {
            let did_key = keypair.did();
            return did_key.strip_prefix("did:key:").expect("a did:key").to_owned();
        }
    }
}

/// A DID document as the PLC directory serves it: `alsoKnownAs: ["at://<handle>"]`, an
/// `#atproto` Multikey verification method and an `#atproto_pds` service.
pub fn did_document(did: &Did, handle: &str, signing_key: &str, pds: &str) -> Value {
    json!({
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
            "https://w3id.org/security/suites/secp256k1-2019/v1"
        ],
        "id": did,
        "alsoKnownAs": [format!("at://{}", handle.to_ascii_lowercase())],
        "verificationMethod": [{
            "id": format!("{did}#atproto"),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": signing_key
        }],
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": pds
        }]
    })
}

fn identity(did: Did, handle: &str, signing_key: &str) -> TestIdentity {
    let handle = Handle::new(handle.to_ascii_lowercase()).expect("a valid handle");
    let document = did_document(&did, handle.as_str(), signing_key, TEST_PDS);
    TestIdentity { did, handle, signing_key: signing_key.to_owned(), pds: TEST_PDS.to_owned(), document }
}

/// `GET /{did}`: the PLC directory.
async fn plc_document(State(state): State<Arc<NetworkState>>, Path(did): Path<String>) -> Response {
    state.count(format!("plc /{did}"));
    let answer = state.lock().plc.get(&did).cloned();
    match answer {
        Some(answer) => answer.into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"message": format!("DID not registered: {did}")})))
            .into_response(),
    }
}

/// `GET /xrpc/com.atproto.identity.resolveHandle?handle=…`, answering as a PDS does.
async fn resolve_handle(
    State(state): State<Arc<NetworkState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let handle = query.get("handle").map(|h| h.to_ascii_lowercase()).unwrap_or_default();
    state.count(format!("resolveHandle {handle}"));
    let did = state.lock().resolver.get(&handle).cloned();
    match did {
        Some(did) => axum::Json(json!({"did": did})).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "InvalidRequest", "message": "Unable to resolve handle"})),
        )
            .into_response(),
    }
}

/// Any `https://<host><path>`, routed by the Host header.
async fn https_file(State(state): State<Arc<NetworkState>>, request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
    let path = request.uri().path().to_owned();
    state.count(format!("https://{host}{path}"));
    let answer = state.lock().https.get(&(host, path)).cloned();
    answer.unwrap_or_else(|| FakeResponse::status(404)).into_response()
}

/// Answers DNS queries over UDP: TXT records from the state, NXDOMAIN for unknown names.
async fn serve_dns(socket: UdpSocket, state: Arc<NetworkState>) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let Ok((length, peer)) = socket.recv_from(&mut buffer).await else { continue };
        let Ok(query) = Message::from_vec(&buffer[..length]) else { continue };
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        if let Some(question) = query.queries.first() {
            response.add_query(question.clone());
            let name = dns_key(&question.name().to_string());
            state.count(format!("dns {name}"));
            let records = state.lock().txt.get(&name).cloned();
            match records {
                Some(records) if question.query_type() == RecordType::TXT => {
                    for record in records {
                        let rdata = RData::TXT(TXT::new(vec![record]));
                        response.add_answer(Record::from_rdata(question.name().clone(), 0, rdata));
                    }
                }
                Some(_) => {}
                None => response.metadata.response_code = ResponseCode::NXDomain,
            }
        }
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

fn dns_key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A test CA (its DER) and a TLS server configuration that presents, for every server
/// name a client asks for, a leaf certificate for that name signed by the CA.
fn test_tls() -> anyhow::Result<(Vec<u8>, rustls::ServerConfig)> {
    let ca_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, "Coves AppView test CA");
    let ca_der = params.self_signed(&ca_key)?.der().to_vec();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = MintingResolver {
        issuer: Issuer::new(params, ca_key),
        provider: provider.clone(),
        minted: Mutex::new(HashMap::new()),
    };
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    Ok((ca_der, config))
}

/// Mints (once per name) a certificate for the server name in each TLS handshake.
struct MintingResolver {
    issuer: Issuer<'static, KeyPair>,
    provider: Arc<CryptoProvider>,
    minted: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for MintingResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintingResolver").finish_non_exhaustive()
    }
}

impl MintingResolver {
    fn mint(&self, name: &str) -> anyhow::Result<Arc<CertifiedKey>> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        let certificate = params.signed_by(&key, &self.issuer)?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(Arc::new(CertifiedKey::from_der(vec![certificate.der().clone()], private, &self.provider)?))
    }
}

impl ResolvesServerCert for MintingResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = client_hello.server_name()?.to_ascii_lowercase();
        let mut minted = self.minted.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = minted.get(&name) {
            return Some(key.clone());
        }
        match self.mint(&name) {
            Ok(key) => Some(minted.entry(name).or_insert(key).clone()),
            Err(e) => {
                eprintln!("fake network: cannot mint a certificate for {name}: {e:#}");
                None
            }
        }
    }
}
