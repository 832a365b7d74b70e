//! The Jetstream replay server over real sockets, checked with a tungstenite client the
//! way a Jetstream consumer would see it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coves_appview::jetstream::compression::decompress;
use coves_appview::replay::ReplayServer;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);
/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

/// Eight events with increasing `time_us`: commits in several collections, one identity
/// and one account event.
const FIXTURE: [&str; 8] = [
    r#"{"did":"did:plc:alice","time_us":1000,"kind":"commit","commit":{"rev":"3l1","operation":"create","collection":"social.coves.feed.vote","rkey":"3l1","record":{"$type":"social.coves.feed.vote","direction":"up"},"cid":"bafy1"}}"#,
    r#"{"did":"did:plc:bob","time_us":2000,"kind":"commit","commit":{"rev":"3l2","operation":"create","collection":"app.bsky.feed.like","rkey":"3l2","record":{"$type":"app.bsky.feed.like"},"cid":"bafy2"}}"#,
    r#"{"did":"did:plc:carol","time_us":3000,"kind":"identity","identity":{"did":"did:plc:carol","handle":"carol.test","seq":1,"time":"2026-01-01T00:00:00Z"}}"#,
    r#"{"did":"did:plc:bob","time_us":4000,"kind":"commit","commit":{"rev":"3l4","operation":"update","collection":"social.coves.community.profile","rkey":"self","record":{"$type":"social.coves.community.profile","name":"a much longer record so that this line is the largest of the whole fixture file"},"cid":"bafy4"}}"#,
    r#"{"did":"did:plc:alice","time_us":5000,"kind":"account","account":{"active":true,"did":"did:plc:alice","seq":2,"time":"2026-01-01T00:00:01Z"}}"#,
    r#"{"did":"did:plc:alice","time_us":6000,"kind":"commit","commit":{"rev":"3l6","operation":"create","collection":"app.bsky.feed.post","rkey":"3l6","record":{"$type":"app.bsky.feed.post","text":"hi"},"cid":"bafy6"}}"#,
    r#"{"did":"did:plc:carol","time_us":7000,"kind":"commit","commit":{"rev":"3l7","operation":"delete","collection":"social.coves.feed.vote","rkey":"3l1"}}"#,
    r#"{"did":"did:plc:carol","time_us":8000,"kind":"commit","commit":{"rev":"3l8","operation":"create","collection":"app.bsky.feed.like","rkey":"3l8","record":{"$type":"app.bsky.feed.like"},"cid":"bafy8"}}"#,
];

fn fixture_file() -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    for line in FIXTURE {
        writeln!(file, "{line}").expect("write fixture");
    }
    file.flush().expect("flush fixture");
    file
}

/// The fixture lines with these (0-based) indexes.
fn lines(indexes: &[usize]) -> Vec<String> {
    indexes.iter().map(|&i| FIXTURE[i].to_owned()).collect()
}

fn network_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/jetstream/network_sample_v1.jsonl")
}

async fn start(file: &Path, rate: Option<u32>) -> ReplayServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    ReplayServer::start(listener, file.to_path_buf(), rate).await.expect("replay server starts")
}

async fn connect(server: &ReplayServer, query: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("{}?{query}", server.url())).await.expect("connects");
    socket
}

/// The next event, decompressed if it came as a binary zstd frame.
async fn next_event(socket: &mut Socket) -> String {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("an event within the timeout")
            .expect("the socket stays open")
            .expect("a valid frame");
        match message {
            Message::Text(text) => return text.as_str().to_owned(),
            Message::Binary(frame) => {
                let json = decompress(&frame, 1 << 20).expect("a Jetstream zstd frame");
                return String::from_utf8(json).expect("UTF-8 JSON");
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

async fn events(socket: &mut Socket, n: usize) -> Vec<String> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next_event(socket).await);
    }
    events
}

/// Asserts that nothing but pings arrives for a while and the socket stays open.
async fn assert_quiet(socket: &mut Socket) {
    let deadline = tokio::time::Instant::now() + QUIET;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }
}

/// Everything `query` yields, until the stream goes quiet.
async fn stream_all(server: &ReplayServer, query: &str) -> Vec<String> {
    let mut socket = connect(server, query).await;
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(QUIET, socket.next()).await {
            Err(_) => return events,
            Ok(Some(Ok(Message::Text(text)))) => events.push(text.as_str().to_owned()),
            Ok(Some(Ok(Message::Binary(frame)))) => {
                events.push(String::from_utf8(decompress(&frame, 1 << 20).expect("zstd frame")).expect("UTF-8"));
            }
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
}

/// Asserts the connection ends without a close frame (an abrupt TCP drop).
async fn assert_cut(socket: &mut Socket) {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("the connection ends") {
            None | Some(Err(_)) => return,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("expected an abrupt end, got {other:?}"),
        }
    }
}

/// The status and body of a refused `/subscribe`.
async fn refused(server: &ReplayServer, query: &str) -> (u16, String) {
    match tokio_tungstenite::connect_async(format!("{}?{query}", server.url())).await {
        Ok(_) => panic!("{query} should be refused"),
        Err(WsError::Http(response)) => {
            let body = response.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn options_update(payload: serde_json::Value) -> Message {
    Message::Text(serde_json::json!({"type": "options_update", "payload": payload}).to_string().into())
}

#[tokio::test]
async fn without_filters_everything_comes_in_order_then_the_stream_idles() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    let mut socket = connect(&server, "").await;
    assert_eq!(events(&mut socket, 8).await, lines(&[0, 1, 2, 3, 4, 5, 6, 7]));
    assert_quiet(&mut socket).await;
    // Idle, not dead: pings are answered.
    socket.send(Message::Ping(b"alive?".to_vec().into())).await.expect("ping");
    let pong = tokio::time::timeout(WAIT, socket.next()).await.expect("pong in time").expect("open").expect("frame");
    assert_eq!(pong, Message::Pong(b"alive?".to_vec().into()));
    assert_eq!((server.connections(), server.events_sent()), (1, 8));
    assert_eq!(server.last_query().as_deref(), Some(""));
    server.stop().await;
}

#[tokio::test]
async fn wanted_collections_filter_commits_only() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    // Exact NSID: identity and account events still come.
    assert_eq!(stream_all(&server, "wantedCollections=app.bsky.feed.like").await, lines(&[1, 2, 4, 7]));
    // Prefix pattern.
    assert_eq!(stream_all(&server, "wantedCollections=social.coves.*").await, lines(&[0, 2, 3, 4, 6]));
    // Repeated parameter: the union.
    assert_eq!(
        stream_all(&server, "wantedCollections=social.coves.feed.vote&wantedCollections=app.bsky.feed.post").await,
        lines(&[0, 2, 4, 5, 6])
    );
    assert_eq!(
        server.last_query().as_deref(),
        Some("wantedCollections=social.coves.feed.vote&wantedCollections=app.bsky.feed.post")
    );
}

#[tokio::test]
async fn wanted_dids_filter_every_kind() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    assert_eq!(stream_all(&server, "wantedDids=did:plc:carol").await, lines(&[2, 6, 7]));
    assert_eq!(stream_all(&server, "wantedDids=did:plc:alice&wantedDids=did:plc:bob").await, lines(&[0, 1, 3, 4, 5]));
    assert_eq!(stream_all(&server, "wantedDids=did:plc:alice&wantedCollections=social.coves.*").await, lines(&[0, 4]));
}

#[tokio::test]
async fn cursor_starts_at_the_first_event_at_or_after_it() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    assert_eq!(stream_all(&server, "cursor=4000").await, lines(&[3, 4, 5, 6, 7]));
    assert_eq!(stream_all(&server, "cursor=4001").await, lines(&[4, 5, 6, 7]));
    assert_eq!(stream_all(&server, "cursor=0").await.len(), 8);
    assert!(stream_all(&server, "cursor=9000").await.is_empty());
    assert_eq!(stream_all(&server, "cursor=3000&wantedCollections=app.bsky.feed.like").await, lines(&[2, 4, 7]));
}

#[tokio::test]
async fn max_message_size_skips_larger_events() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    let limit = FIXTURE[3].len() - 1;
    let expected: Vec<String> = FIXTURE.iter().filter(|l| l.len() <= limit).map(|l| l.to_string()).collect();
    assert_eq!(expected.len(), 7);
    assert_eq!(stream_all(&server, &format!("maxMessageSizeBytes={limit}")).await, expected);
    assert_eq!(stream_all(&server, "maxMessageSizeBytes=0").await.len(), 8);
}

#[tokio::test]
async fn compressed_streams_are_binary_zstd_frames_of_the_same_bytes() {
    let server = start(&network_sample(), None).await;
    let plain = stream_all(&server, "").await;
    let expected: Vec<String> =
        std::fs::read_to_string(network_sample()).expect("sample").lines().map(str::to_owned).collect();
    assert_eq!(expected.len(), 152);
    assert_eq!(plain, expected, "the captures stream completely, in file order");

    // compress=true: every message is binary.
    let mut socket = connect(&server, "compress=true").await;
    let first = tokio::time::timeout(WAIT, socket.next()).await.expect("in time").expect("open").expect("frame");
    assert!(matches!(first, Message::Binary(_)), "compressed events are binary messages");
    drop(socket);
    assert_eq!(stream_all(&server, "compress=true").await, expected);

    // The Socket-Encoding header means the same.
    let mut request = server.url().into_client_request().expect("request");
    request.headers_mut().insert("Socket-Encoding", HeaderValue::from_static("zstd"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
    let mut decompressed = Vec::new();
    for _ in 0..expected.len() {
        let message = tokio::time::timeout(WAIT, socket.next()).await.expect("in time").expect("open").expect("frame");
        let Message::Binary(frame) = message else { panic!("expected a binary message, got {message:?}") };
        decompressed.push(String::from_utf8(decompress(&frame, 1 << 20).expect("zstd")).expect("UTF-8"));
    }
    assert_eq!(decompressed, expected);
    assert_quiet(&mut socket).await;
}

#[tokio::test]
async fn require_hello_waits_for_the_first_options_update_which_replaces_the_query_filter() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    let mut socket = connect(&server, "wantedCollections=app.bsky.feed.like&requireHello=true").await;
    assert_quiet(&mut socket).await;
    socket
        .send(options_update(serde_json::json!({"wantedCollections": ["social.coves.*"], "wantedDids": []})))
        .await
        .expect("send hello");
    assert_eq!(events(&mut socket, 5).await, lines(&[0, 2, 3, 4, 6]));
    assert_quiet(&mut socket).await;
}

#[tokio::test]
async fn options_update_changes_the_filter_mid_stream() {
    let file = fixture_file();
    // 20 events/s: one every 50 ms, so the update lands well before the last events.
    let server = start(file.path(), Some(20)).await;
    let mut socket = connect(&server, "").await;
    let mut received = events(&mut socket, 2).await;
    socket.send(options_update(serde_json::json!({"wantedDids": ["did:plc:carol"]}))).await.expect("send update");
    loop {
        match tokio::time::timeout(Duration::from_secs(1), socket.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(text)))) => received.push(text.as_str().to_owned()),
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    // Some prefix of the file under the old filter, then only carol's events.
    let switched = (2..=4).any(|k| {
        let carol = (k..8).filter(|&i| FIXTURE[i].contains("did:plc:carol"));
        received == lines(&(0..k).chain(carol).collect::<Vec<_>>())
    });
    assert!(switched, "unexpected sequence: {received:#?}");
    assert!(received.ends_with(&lines(&[6, 7])));
}

#[tokio::test]
async fn an_invalid_options_update_closes_the_socket_with_the_reason() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    let mut socket = connect(&server, "requireHello=true").await;
    socket.send(options_update(serde_json::json!({"wantedCollections": ["not an nsid"]}))).await.expect("send");
    let message = tokio::time::timeout(WAIT, socket.next()).await.expect("in time").expect("open").expect("frame");
    let Message::Close(Some(frame)) = message else { panic!("expected a close frame, got {message:?}") };
    assert!(frame.reason.as_str().contains("invalid collection"), "{}", frame.reason);

    let mut socket = connect(&server, "requireHello=true").await;
    socket.send(Message::Text("not json".into())).await.expect("send");
    let message = tokio::time::timeout(WAIT, socket.next()).await.expect("in time").expect("open").expect("frame");
    assert!(matches!(message, Message::Close(Some(_))), "{message:?}");
}

#[tokio::test]
async fn invalid_subscriptions_are_refused_with_http_400() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    let too_many: Vec<String> = (0..101).map(|i| format!("wantedCollections=com.example.c{i}")).collect();
    let (status, body) = refused(&server, &too_many.join("&")).await;
    assert_eq!(status, 400);
    assert!(body.contains("too many wanted collections"), "{body}");
    assert_eq!(server.last_query(), Some(too_many.join("&")));
    // 100 is still fine (none match; identity and account events still come).
    let mut socket = connect(&server, &too_many[..100].join("&")).await;
    assert_eq!(events(&mut socket, 2).await, lines(&[2, 4]));

    for (query, reason) in [
        ("wantedCollections=not-an-nsid", "invalid collection"),
        ("wantedCollections=*", "invalid collection"),
        ("wantedDids=did:PLC:x", "invalid DID"),
        ("cursor=yesterday", "invalid cursor"),
    ] {
        let (status, body) = refused(&server, query).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.contains(reason), "{query}: {body}");
    }
    assert_eq!(server.connections(), 1, "refused requests are not connections");

    // 10,001 DIDs do not fit in a URL (the client refuses it), so the DID limit is
    // checked through options_update.
    let mut socket = connect(&server, "requireHello=true").await;
    let dids: Vec<String> = (0..10_001).map(|i| format!("did:plc:{i}")).collect();
    socket.send(options_update(serde_json::json!({"wantedDids": dids}))).await.expect("send");
    let message = tokio::time::timeout(WAIT, socket.next()).await.expect("in time").expect("open").expect("frame");
    let Message::Close(Some(frame)) = message else { panic!("expected a close frame, got {message:?}") };
    assert!(frame.reason.as_str().contains("too many wanted DIDs"), "{}", frame.reason);
}

#[tokio::test]
async fn drop_after_cuts_every_connection_without_a_close_frame() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    server.drop_after(Some(3));
    let mut socket = connect(&server, "").await;
    assert_eq!(events(&mut socket, 3).await, lines(&[0, 1, 2]));
    assert_cut(&mut socket).await;

    // Counted per connection: a reconnect with a cursor gets three more.
    let mut socket = connect(&server, "cursor=4000").await;
    assert_eq!(events(&mut socket, 3).await, lines(&[3, 4, 5]));
    assert_cut(&mut socket).await;

    server.drop_after(None);
    assert_eq!(stream_all(&server, "").await.len(), 8);
    assert_eq!(server.connections(), 3);
    assert_eq!(server.events_sent(), 14);
}

#[tokio::test]
async fn disconnect_all_cuts_current_connections_only() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    let mut idle = connect(&server, "requireHello=true").await;
    let mut done = connect(&server, "").await;
    assert_eq!(events(&mut done, 8).await.len(), 8);
    server.disconnect_all();
    assert_cut(&mut idle).await;
    assert_cut(&mut done).await;
    assert_eq!(stream_all(&server, "wantedDids=did:plc:bob").await, lines(&[1, 3]));
}

#[tokio::test]
async fn stopping_sends_a_close_frame() {
    let file = fixture_file();
    let server = start(file.path(), None).await;
    let mut socket = connect(&server, "requireHello=true").await;
    assert_quiet(&mut socket).await;
    tokio::time::timeout(WAIT, server.stop()).await.expect("stops promptly");
    let message = tokio::time::timeout(WAIT, socket.next()).await.expect("in time").expect("open").expect("frame");
    let Message::Close(Some(frame)) = message else { panic!("expected a close frame, got {message:?}") };
    assert_eq!(u16::from(frame.code), 1001);
}

#[tokio::test]
async fn a_rate_paces_each_connection() {
    let file = fixture_file();
    let server = start(file.path(), Some(40)).await;
    let started = tokio::time::Instant::now();
    let mut socket = connect(&server, "").await;
    assert_eq!(events(&mut socket, 8).await.len(), 8);
    // One burst token, then 25 ms per event.
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
}
