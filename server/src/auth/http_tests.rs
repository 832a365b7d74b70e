//! Service auth through the real HTTP stack (a server on a loopback port): GraphQL over HTTP
//! and websockets, and XRPC. A test-only plugin shows what resolvers and handlers see; the
//! identity resolver is in memory and the database is never reached.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, SubscriptionField, SubscriptionFieldFuture, TypeRef};
use coves_plugin_api::{Plugin, Registrar, RegistrarError, Viewer, XrpcMethod, async_trait};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;

use super::tests::{ALICE, AUDIENCE, MemoryIdentity, TestKey, b64, claims, mint, now};
use crate::app::{AppState, RunningServer};
use crate::graphql::GraphqlLimits;

/// Exposes the viewer: `Query.viewerDid`, `Subscription.viewerDid`, `test.viewer.whoami` (optional auth) and
/// `test.viewer.private` (required auth).
struct ViewerProbe;

static PROBE: ViewerProbe = ViewerProbe;

#[async_trait]
impl Plugin for ViewerProbe {
    fn name(&self) -> &'static str {
        "viewer-probe"
    }

    fn register_graphql(&self, r: &mut Registrar) -> Result<(), RegistrarError> {
        r.add_query_field(
            "viewerDid",
            Field::new("viewerDid", TypeRef::named(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let viewer = ctx.data::<Viewer>()?;
                    Ok(viewer.did.as_ref().map(|did| FieldValue::value(did.to_string())))
                })
            }),
        )?;
        r.add_subscription_field(
            "viewerDid",
            SubscriptionField::new("viewerDid", TypeRef::named(TypeRef::STRING), |ctx| {
                SubscriptionFieldFuture::new(async move {
                    let did = ctx.data::<Viewer>()?.did.as_ref().map(|did| GqlValue::from(did.to_string()));
                    Ok(futures::stream::once(async move { Ok(did.unwrap_or(GqlValue::Null)) }))
                })
            }),
        )
    }

    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        vec![
            XrpcMethod::query("test.viewer.whoami", |req| {
                Box::pin(async move {
                    Ok(
                        json!({"did": req.viewer.did.as_ref().map(|d| d.to_string()), "tokenError": req.viewer.token_error}),
                    )
                })
            }),
            XrpcMethod::query("test.viewer.private", |req| {
                Box::pin(async move { Ok(json!({"did": req.viewer.require()?.to_string()})) })
            }),
        ]
    }
}

struct Server {
    base: String,
    http: reqwest::Client,
    _server: RunningServer,
}

async fn start(key: &TestKey) -> Server {
    let identity = MemoryIdentity::with(ALICE, key);
    let pool = crate::db::connect("postgres://nobody@127.0.0.1:9/none", 1, Duration::from_millis(100)).expect("pool");
    let instance = coves_plugin_api::InstanceInfo { did: Some(AUDIENCE.into()), ..Default::default() };
    let state =
        AppState::new(pool, &[&PROBE], instance, identity as Arc<_>, GraphqlLimits::default()).expect("app state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = RunningServer::start(listener, state, Vec::new(), CancellationToken::new()).expect("server");
    Server { base: format!("http://{}", server.addr), http: reqwest::Client::new(), _server: server }
}

impl Server {
    async fn graphql(&self, authorization: Option<&str>) -> (u16, Option<String>, Value) {
        let mut request = self.http.post(format!("{}/graphql", self.base)).json(&json!({"query": "{ viewerDid }"}));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("POST /graphql");
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (status, challenge, response.json().await.expect("JSON"))
    }

    async fn xrpc(&self, nsid: &str, authorization: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}/xrpc/{nsid}", self.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("GET /xrpc");
        (response.status().as_u16(), response.json().await.expect("JSON"))
    }

    /// Opens a websocket, sends `connection_init` with `payload`, and runs `subscription { viewerDid }`.
    /// `Ok(viewerDid)`, or `Err(reason)` when the connection is refused.
    async fn websocket(&self, protocol: &str, payload: Value, header: Option<&str>) -> Result<Value, String> {
        let url = format!("{}/graphql", self.base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("ws URL");
        request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(protocol).expect("header"));
        if let Some(value) = header {
            request.headers_mut().insert("authorization", HeaderValue::from_str(value).expect("header"));
        }
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket connects");
        let send = |v: Value| Message::Text(v.to_string().into());
        socket.send(send(json!({"type": "connection_init", "payload": payload}))).await.expect("init");
        let start = if protocol == "graphql-ws" { "start" } else { "subscribe" };
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("a message within 10 s")
                .expect("the socket answers")
                .expect("a valid frame");
            let text = match message {
                Message::Text(text) => text,
                Message::Close(frame) => return Err(frame.map(|f| f.reason.to_string()).unwrap_or_default()),
                _ => continue,
            };
            let message: Value = serde_json::from_str(&text).expect("JSON");
            match message["type"].as_str() {
                Some("connection_ack") => {
                    let subscribe =
                        json!({"id": "1", "type": start, "payload": {"query": "subscription { viewerDid }"}});
                    socket.send(send(subscribe)).await.expect("subscribe");
                }
                Some("next" | "data") => {
                    assert!(message["payload"].get("errors").is_none(), "{message}");
                    return Ok(message["payload"]["data"]["viewerDid"].clone());
                }
                Some("connection_error") => return Err(message["payload"]["message"].to_string()),
                Some("ka" | "ping" | "pong") => {}
                other => panic!("unexpected {other:?}: {message}"),
            }
        }
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn auth_over_graphql_http() {
    for key in [TestKey::k256(), TestKey::p256()] {
        let server = start(&key).await;
        let (status, _, body) = server.graphql(Some(&bearer(&mint(&key, &claims(ALICE))))).await;
        assert_eq!((status, &body["data"]["viewerDid"]), (200, &json!(ALICE)), "{}: {body}", key.alg());
        let (status, _, body) = server.graphql(None).await;
        assert_eq!((status, &body["data"]["viewerDid"]), (200, &Value::Null), "{body}");
    }

    let key = TestKey::k256();
    let server = start(&key).await;
    let mut expired = claims(ALICE);
    expired["exp"] = json!(now() - 600);
    let mut elsewhere = claims(ALICE);
    elsewhere["aud"] = json!("did:web:elsewhere.example");
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(ALICE)));
    let forged = mint(&TestKey::k256(), &claims(ALICE));
    for (token, reason) in [
        (mint(&key, &expired), "expired"),
        (mint(&key, &elsewhere), AUDIENCE),
        (unsigned, "unsupported alg"),
        (forged, "bad signature"),
    ] {
        let (status, challenge, body) = server.graphql(Some(&bearer(&token))).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
        assert_eq!(body["errors"][0]["extensions"]["code"], "InvalidToken", "{body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(reason), "{reason}: {message}");
        assert!(body.get("data").is_none(), "{body}");
    }
    let (status, _, body) = server.graphql(Some("Basic YWxpY2U6c2VjcmV0")).await;
    assert_eq!((status, &body["errors"][0]["extensions"]["code"]), (401, &json!("InvalidToken")), "{body}");
}

#[tokio::test]
async fn auth_over_xrpc() {
    let key = TestKey::p256();
    let server = start(&key).await;
    let valid = bearer(&mint(&key, &claims(ALICE)));
    let (status, body) = server.xrpc("test.viewer.whoami", Some(&valid)).await;
    assert_eq!((status, &body["did"]), (200, &json!(ALICE)), "{body}");
    let (status, body) = server.xrpc("test.viewer.private", Some(&valid)).await;
    assert_eq!((status, &body["did"]), (200, &json!(ALICE)), "{body}");

    let mut scoped = claims(ALICE);
    scoped["lxm"] = json!("test.viewer.whoami");
    let scoped = bearer(&mint(&key, &scoped));
    let (_, body) = server.xrpc("test.viewer.whoami", Some(&scoped)).await;
    assert_eq!(body["did"], ALICE, "{body}");
    // A refused token on an auth-optional method is an anonymous viewer, never a 401.
    let (status, body) = server.xrpc("test.viewer.private", Some(&scoped)).await;
    assert_eq!((status, &body["error"]), (401, &json!("AuthenticationRequired")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("lxm")), "{body}");
    let mut expired = claims(ALICE);
    expired["exp"] = json!(now() - 600);
    let (status, body) = server.xrpc("test.viewer.whoami", Some(&bearer(&mint(&key, &expired)))).await;
    assert_eq!((status, &body["did"]), (200, &Value::Null), "{body}");
    assert!(body["tokenError"].as_str().is_some_and(|e| e.contains("expired")), "{body}");
    let (status, body) = server.xrpc("test.viewer.whoami", None).await;
    assert_eq!((status, &body), (200, &json!({"did": null, "tokenError": null})));
    let (status, body) = server.xrpc("test.viewer.private", None).await;
    assert_eq!((status, &body["error"]), (401, &json!("AuthenticationRequired")), "{body}");
}

#[tokio::test]
async fn auth_over_graphql_websockets() {
    let key = TestKey::k256();
    let server = start(&key).await;
    let token = mint(&key, &claims(ALICE));
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        for payload in [
            json!({"authorization": bearer(&token)}),
            json!({"Authorization": bearer(&token)}),
            json!({"token": token}),
        ] {
            assert_eq!(server.websocket(protocol, payload, None).await, Ok(json!(ALICE)), "{protocol}");
        }
        assert_eq!(server.websocket(protocol, json!({}), Some(&bearer(&token))).await, Ok(json!(ALICE)));
        assert_eq!(server.websocket(protocol, json!({}), None).await, Ok(Value::Null), "{protocol}");

        let mut expired = claims(ALICE);
        expired["exp"] = json!(now() - 600);
        let refused = server.websocket(protocol, json!({"token": mint(&key, &expired)}), None).await;
        let reason = refused.expect_err("an expired token refuses the connection");
        assert!(reason.contains("InvalidToken") && reason.contains("expired"), "{protocol}: {reason}");
    }
}
