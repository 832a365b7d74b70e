//! Viewer authentication end to end: service-auth tokens minted with real keys for
//! identities in the fake PLC directory, presented over HTTP and websockets. A test-only
//! plugin (never registered with inventory) shows what resolvers and handlers see.

use std::time::Duration;

use coves_appview::graphql::GraphqlLimits;
use coves_plugin_api::async_graphql::Value as GqlValue;
use coves_plugin_api::async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use coves_plugin_api::{Plugin, Registrar, RegistrarError, Viewer, XrpcMethod, async_trait};
use coves_tests::TestApp;
use coves_tests::auth::{TestKey, bearer, mint, mint_with, now, unsigned};
use coves_tests::network::{TEST_PDS, TestIdentity, did_document};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The audience `TestApp` configures as INSTANCE_DID.
const AUDIENCE: &str = "did:web:appview.test";

/// `Query.viewerDid`, `Subscription.viewerDid` and the XRPC query `test.auth.whoami`.
struct ViewerProbe;

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
                    Ok(ctx.data::<Viewer>()?.did.as_ref().map(|did| FieldValue::value(did.to_string())))
                })
            }),
        )?;
        r.add_subscription_field(
            "viewerDid",
            SubscriptionField::new("viewerDid", TypeRef::named(TypeRef::STRING), |ctx| {
                SubscriptionFieldFuture::new(async move {
                    let did = ctx.data::<Viewer>()?.did.as_ref().map_or(GqlValue::Null, |d| d.to_string().into());
                    Ok(futures::stream::once(async move { Ok(did) }))
                })
            }),
        )
    }

    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        vec![
            XrpcMethod::query("test.auth.whoami", |req| {
                Box::pin(async move {
                    Ok(
                        json!({"did": req.viewer.did.as_ref().map(|d| d.to_string()), "tokenError": req.viewer.token_error}),
                    )
                })
            }),
            XrpcMethod::query("test.auth.private", |req| {
                Box::pin(async move { Ok(json!({"did": req.viewer.require()?.to_string()})) })
            }),
        ]
    }
}

async fn start() -> TestApp {
    TestApp::with_plugins(vec![&ViewerProbe], GraphqlLimits::default()).await
}

/// `{ viewerDid }` over HTTP with a bearer token: status, body, `WWW-Authenticate`.
async fn graphql(app: &TestApp, token: Option<&str>) -> (u16, Value, Option<String>) {
    graphql_with_header(app, token.map(bearer).as_deref()).await
}

/// `{ viewerDid }` over HTTP with any `Authorization` header.
async fn graphql_with_header(app: &TestApp, authorization: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = app.http.post(format!("{}/graphql", app.base)).json(&json!({"query": "{ viewerDid }"}));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("POST /graphql");
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, response.json().await.expect("JSON"), challenge)
}

/// `test.auth.whoami` over XRPC: status, body.
async fn whoami(app: &TestApp, token: Option<&str>) -> (u16, Value) {
    xrpc(app, "test.auth.whoami", token).await
}

/// A probe method over XRPC: status, body.
async fn xrpc(app: &TestApp, nsid: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = app.http.get(format!("{}/xrpc/{nsid}", app.base));
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    let response = request.send().await.expect("GET /xrpc");
    (response.status().as_u16(), response.json().await.expect("JSON"))
}

fn token_for(key: &TestKey, identity: &TestIdentity) -> String {
    mint(key, identity.did.as_str(), AUDIENCE, now() + 60, None)
}

#[tokio::test]
async fn es256k_and_es256_tokens_identify_the_viewer() {
    let app = start().await;
    for (handle, key) in [("alice.test", TestKey::k256()), ("bob.test", TestKey::p256())] {
        let identity = app.network.add_plc_identity(handle, &key.multikey());
        let token = token_for(&key, &identity);
        let (status, body, _) = graphql(&app, Some(&token)).await;
        assert_eq!((status, &body), (200, &json!({"data": {"viewerDid": identity.did.as_str()}})), "{}", key.alg());
        let (status, body) = whoami(&app, Some(&token)).await;
        assert_eq!((status, &body), (200, &json!({"did": identity.did.as_str(), "tokenError": null})));
        // The DID document was fetched once and then cached.
        assert_eq!(app.network.plc_requests(&identity.did), 1);
    }
    let (status, body, _) = graphql(&app, None).await;
    assert_eq!((status, body), (200, json!({"data": {"viewerDid": null}})));
    app.stop().await;
}

#[tokio::test]
async fn refused_tokens_are_401_on_graphql_and_anonymous_on_xrpc() {
    let app = start().await;
    let key = TestKey::k256();
    let alice = app.network.add_plc_identity("alice.test", &key.multikey());
    let did = alice.did.as_str();
    let valid = token_for(&key, &alice);
    let (payload, signature) = valid.rsplit_once('.').expect("a JWT");
    let other_payload = mint(&key, did, AUDIENCE, now() + 86_400, None);
    let forged_claims = other_payload.split('.').nth(1).expect("payload");
    let tampered_payload = format!("{}.{forged_claims}.{signature}", payload.split('.').next().expect("header"));
    let mut signature_bytes = signature.to_owned().into_bytes();
    signature_bytes[10] = if signature_bytes[10] == b'A' { b'B' } else { b'A' };
    let tampered_signature = format!("{payload}.{}", String::from_utf8(signature_bytes).expect("ASCII"));
    let cases = [
        ("expired", mint(&key, did, AUDIENCE, now() - 600, None), "expired"),
        ("wrong audience", mint(&key, did, "did:web:api.bsky.app", now() + 60, None), AUDIENCE),
        ("alg none", unsigned(did, AUDIENCE, now() + 60), "unsupported alg"),
        (
            "HS256",
            mint_with(&key, &json!({"alg": "HS256"}), &json!({"iss": did, "aud": AUDIENCE, "exp": now() + 60})),
            "unsupported alg",
        ),
        ("tampered payload", tampered_payload, "signature"),
        ("tampered signature", tampered_signature, "signature"),
        ("another key", token_for(&TestKey::k256(), &alice), "signature"),
        ("scoped to a method", mint(&key, did, AUDIENCE, now() + 60, Some("test.auth.whoami")), "lxm"),
    ];
    for (case, token, reason) in &cases {
        let (status, body, challenge) = graphql(&app, Some(token)).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "InvalidToken", "{case}: {body}");
        let message = body["errors"][0]["message"].as_str().expect("a message");
        assert!(message.contains(reason), "{case}: {message}");
        assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""), "{case}");

        if *case == "scoped to a method" {
            // ... which is exactly what the XRPC method accepts.
            assert_eq!(whoami(&app, Some(token)).await.1["did"], did, "{case}");
            continue;
        }
        let (status, body) = whoami(&app, Some(token)).await;
        assert_eq!((status, &body["did"]), (200, &Value::Null), "{case}: {body}");
        assert!(body["tokenError"].as_str().is_some_and(|e| e.contains(reason)), "{case}: {body}");
    }
    // A method that requires a viewer says what was wrong with the token; without one, 401 too.
    let (status, body) = xrpc(&app, "test.auth.private", Some(&cases[0].1)).await;
    assert_eq!((status, &body["error"]), (401, &json!("AuthenticationRequired")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("expired")), "{body}");
    let (status, body) = xrpc(&app, "test.auth.private", None).await;
    assert_eq!((status, &body["error"]), (401, &json!("AuthenticationRequired")), "{body}");
    assert_eq!(xrpc(&app, "test.auth.private", Some(&valid)).await, (200, json!({"did": did})));
    // Another scheme than Bearer is a refused token, not an anonymous request.
    let (status, body, _) = graphql_with_header(&app, Some("Basic YWxpY2U6c2VjcmV0")).await;
    assert_eq!((status, &body["errors"][0]["extensions"]["code"]), (401, &json!("InvalidToken")), "{body}");

    // Forged signatures refresh the issuer's document at most once in a while.
    assert!(app.network.plc_requests(&alice.did) <= 2, "{}", app.network.plc_requests(&alice.did));
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_signing_key_is_picked_up() {
    let app = start().await;
    let old = TestKey::k256();
    let alice = app.network.add_plc_identity("alice.test", &old.multikey());
    let (_, body, _) = graphql(&app, Some(&token_for(&old, &alice))).await;
    assert_eq!(body["data"]["viewerDid"], alice.did.as_str());

    let new = TestKey::p256();
    app.network.put_plc_document(&alice.did, &did_document(&alice.did, "alice.test", &new.multikey(), TEST_PDS));
    let (status, body, _) = graphql(&app, Some(&token_for(&new, &alice))).await;
    assert_eq!((status, &body["data"]["viewerDid"]), (200, &json!(alice.did.as_str())), "{body}");
    assert_eq!(app.network.plc_requests(&alice.did), 2, "one fetch, then one refresh for the new key");
    app.stop().await;
}

#[tokio::test]
async fn websockets_take_the_token_from_connection_init() {
    let app = start().await;
    let key = TestKey::p256();
    let alice = app.network.add_plc_identity("alice.test", &key.multikey());
    let did = json!(alice.did.as_str());
    let token = token_for(&key, &alice);
    let expired = mint(&key, alice.did.as_str(), AUDIENCE, now() - 600, None);
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        for payload in [
            json!({"authorization": bearer(&token)}),
            json!({"Authorization": bearer(&token)}),
            json!({"token": token}),
        ] {
            assert_eq!(subscribe(&app, protocol, payload.clone(), None).await, Ok(did.clone()), "{protocol} {payload}");
        }
        // Without a token in connection_init, the upgrade request's header counts.
        assert_eq!(subscribe(&app, protocol, json!({}), Some(&bearer(&token))).await, Ok(did.clone()), "{protocol}");
        assert_eq!(subscribe(&app, protocol, json!({}), None).await, Ok(Value::Null), "{protocol}");
        let refused = subscribe(&app, protocol, json!({"token": expired}), None).await;
        let reason = refused.expect_err("an expired token refuses the connection");
        assert!(reason.contains("InvalidToken") && reason.contains("expired"), "{protocol}: {reason}");
    }
    app.stop().await;
}

/// `subscription { viewerDid }` over `protocol` after `connection_init` with `payload`
/// (and an optional `Authorization` header on the upgrade): the value, or the reason the
/// connection was refused.
async fn subscribe(app: &TestApp, protocol: &str, payload: Value, header: Option<&str>) -> Result<Value, String> {
    let mut request = app.ws_url().into_client_request().expect("ws URL");
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
                let subscribe = json!({"id": "1", "type": start, "payload": {"query": "subscription { viewerDid }"}});
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
