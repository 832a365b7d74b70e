//! Write procedures on the read-only AppView (COVES_API §1.3): `social.coves.feed.vote.create`
//! and `.delete`, `social.coves.community.comment.create`, `.update` and `.delete` answer 400
//! `WriteDirectlyToPDS` describing the record to write to the client's own PDS, for any HTTP
//! method and any token (never 401), and write nothing.

use coves_plugin_api::syntax::Datetime;
use coves_tests::TestApp;
use coves_tests::auth::{TestKey, bearer, mint, now};
use coves_tests::events::{create, delete};
use coves_tests::network::TestIdentity;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

/// The audience `TestApp` configures as INSTANCE_DID.
const AUDIENCE: &str = "did:web:appview.test";
const VOTE: &str = "social.coves.feed.vote";
const CREATE: &str = "/xrpc/social.coves.feed.vote.create";
const DELETE: &str = "/xrpc/social.coves.feed.vote.delete";
const POST: &str = "at://did:plc:community000000000000000/social.coves.community.post/3kpost0000001";
const COMMENT: &str = "at://did:plc:community000000000000000/social.coves.community.comment/3kcomm0000001";
const CID: &str = "bafyreisubject";
const CREATE_MESSAGE: &str =
    "Read-only AppView: create a social.coves.feed.vote record with com.atproto.repo.createRecord on your own PDS.";
const DELETE_MESSAGE: &str =
    "Read-only AppView: delete your social.coves.feed.vote record with com.atproto.repo.deleteRecord on your own PDS.";
const DELETE_MESSAGE_WITHOUT_RKEY: &str = "Read-only AppView: delete your social.coves.feed.vote record with \
     com.atproto.repo.deleteRecord on your own PDS; take its record key from the last segment of viewer.voteUri of \
     the post or comment view.";
const TOGGLE_NOTE: &str = "This AppView does not toggle votes as the Go AppView did: if viewer.vote on the subject \
     already has this direction, delete that vote instead of creating one (com.atproto.repo.deleteRecord of the \
     record in viewer.voteUri); if it has the other direction, delete it and create the new one.";

/// Status and JSON body of `method path` with an optional bearer token and raw body.
async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> (u16, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/json; charset=utf-8");
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `POST path` with a JSON body and an optional token.
async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    call(app, Method::POST, path, token, Some(serde_json::to_vec(body).expect("JSON"))).await
}

/// Removes `record.createdAt` and checks it is now, as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn take_created_at(body: &mut Value) {
    let created_at = body["record"].as_object_mut().and_then(|r| r.remove("createdAt")).expect("record.createdAt");
    let created_at = created_at.as_str().expect("a string");
    assert!(created_at.len() == 24 && created_at.ends_with('Z') && created_at.as_bytes()[19] == b'.', "{created_at}");
    let age = now() - Datetime::new(created_at).expect("a valid datetime").to_utc().timestamp();
    assert!((0..60).contains(&age), "createdAt {created_at} is now");
}

fn subject(uri: &str) -> Value {
    json!({"uri": uri, "cid": CID})
}

/// The record of a vote create answered without a usable body.
fn template() -> Value {
    json!({
        "$type": VOTE,
        "subject": {"uri": "<AT-URI of the post or comment>", "cid": "<CID of the post or comment>"},
        "direction": "<up|down>",
    })
}

/// A viewer known to the fake PLC directory, and a valid token for it.
fn viewer(app: &TestApp, handle: &str) -> (TestIdentity, String) {
    let key = TestKey::k256();
    let identity = app.network.add_plc_identity(handle, &key.multikey());
    let token = mint(&key, identity.did.as_str(), AUDIENCE, now() + 60, None);
    (identity, token)
}

fn vote(subject_uri: &str, direction: &str, created_at: &str) -> Value {
    json!({"$type": VOTE, "subject": subject(subject_uri), "direction": direction, "createdAt": created_at})
}

async fn stored_votes(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = app.db.connect().await;
    let rows: Vec<Count> =
        diesel::sql_query("SELECT count(*) AS n FROM votes").load(&mut conn).await.expect("count votes");
    rows[0].n
}

#[tokio::test]
async fn create_answers_the_record_to_write() {
    let app = TestApp::start().await;
    let (status, mut body) = post(&app, CREATE, None, &json!({"subject": subject(POST), "direction": "down"})).await;
    assert_eq!(status, 400);
    take_created_at(&mut body);
    assert_eq!(
        body,
        json!({
            "error": "WriteDirectlyToPDS",
            "message": CREATE_MESSAGE,
            "procedure": "social.coves.feed.vote.create",
            "pdsMethod": "com.atproto.repo.createRecord",
            "collection": VOTE,
            "record": {"$type": VOTE, "subject": {"uri": POST, "cid": CID}, "direction": "down"},
            "note": TOGGLE_NOTE,
        })
    );

    // A strongRef's optional $type is dropped; a comment is a subject too.
    let typed = json!({"$type": "com.atproto.repo.strongRef", "uri": COMMENT, "cid": CID});
    let (status, body) = post(&app, CREATE, None, &json!({"subject": typed, "direction": "up"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["record"]["subject"], subject(COMMENT));
    assert_eq!(body["record"]["direction"], "up");
    app.stop().await;
}

#[tokio::test]
async fn a_valid_token_names_the_repo_and_a_refused_one_is_never_401() {
    let app = TestApp::start().await;
    let key = TestKey::k256();
    let alice = app.network.add_plc_identity("alice.test", &key.multikey());
    let did = alice.did.as_str();
    let valid = mint(&key, did, AUDIENCE, now() + 60, None);
    let scoped = mint(&key, did, AUDIENCE, now() + 60, Some("social.coves.feed.vote.create"));
    let expired = mint(&key, did, AUDIENCE, now() - 600, None);
    let wrong_audience = mint(&key, did, "did:web:api.bsky.app", now() + 60, None);
    let another_key = mint(&TestKey::k256(), did, AUDIENCE, now() + 60, None);
    let request = json!({"subject": subject(POST), "direction": "up"});

    for token in [&valid, &scoped] {
        let (status, body) = post(&app, CREATE, Some(token), &request).await;
        assert_eq!((status, &body["error"], &body["repo"]), (400, &json!("WriteDirectlyToPDS"), &json!(did)), "{body}");
    }
    let (status, body) = post(&app, DELETE, Some(&valid), &json!({"subject": subject(POST)})).await;
    assert_eq!((status, &body["repo"]), (400, &json!(did)), "{body}");

    for (case, token) in [
        ("expired", expired.as_str()),
        ("wrong audience", wrong_audience.as_str()),
        ("another key", another_key.as_str()),
        ("not a JWT", "garbage"),
    ] {
        for path in [CREATE, DELETE] {
            let (status, body) = post(&app, path, Some(token), &request).await;
            assert_eq!(status, 400, "{case} {path}: {body}");
            assert_eq!(body["error"], "WriteDirectlyToPDS", "{case} {path}");
            assert!(body.get("repo").is_none(), "{case} {path}: {body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn unusable_bodies_get_a_template() {
    let app = TestApp::start().await;
    let huge = json!({"subject": subject(POST), "direction": "up", "padding": "x".repeat(70 * 1024)});
    let bodies: [(&str, Option<Vec<u8>>); 6] = [
        ("no body", None),
        ("empty", Some(Vec::new())),
        ("not JSON", Some(b"{\"subject\": ".to_vec())),
        ("not an object", Some(b"[1, 2]".to_vec())),
        ("malformed fields", Some(br#"{"subject": "at://nope", "direction": "sideways"}"#.to_vec())),
        ("over 64 KiB", Some(serde_json::to_vec(&huge).expect("JSON"))),
    ];
    for (case, body) in bodies {
        let (status, mut answer) = call(&app, Method::POST, CREATE, None, body).await;
        assert_eq!((status, &answer["error"]), (400, &json!("WriteDirectlyToPDS")), "{case}: {answer}");
        take_created_at(&mut answer);
        assert_eq!(answer["record"], template(), "{case}");
        assert_eq!(answer["message"], CREATE_MESSAGE, "{case}");
    }

    // Well-formed parts are kept, the rest is a placeholder.
    let partial = [
        (json!({"subject": subject(POST)}), json!({"$type": VOTE, "subject": subject(POST), "direction": "<up|down>"})),
        (
            json!({"subject": {"uri": POST}, "direction": "down"}),
            json!({"$type": VOTE, "subject": template()["subject"], "direction": "down"}),
        ),
        (
            json!({"subject": subject("at://did:plc:community000000000000000"), "direction": "up"}),
            json!({"$type": VOTE, "subject": template()["subject"], "direction": "up"}),
        ),
    ];
    for (request, expected) in partial {
        let (status, mut answer) = post(&app, CREATE, None, &request).await;
        assert_eq!(status, 400);
        take_created_at(&mut answer);
        assert_eq!(answer["record"], expected, "{request}");
    }
    app.stop().await;
}

#[tokio::test]
async fn delete_names_the_viewers_effective_vote() {
    let app = TestApp::start().await;
    let (alice, token) = viewer(&app, "alice.test");
    let (bob, _) = viewer(&app, "bob.test");
    let (alice, bob) = (alice.did.as_str(), bob.did.as_str());
    app.ingest(&[
        // Alice's effective vote on POST is the newest createdAt, not the greatest rkey...
        create(alice, VOTE, "3kvote0000009", "3krev00000001", 1, vote(POST, "up", "2026-01-01T00:00:00Z")),
        create(alice, VOTE, "3kvote0000002", "3krev00000002", 2, vote(POST, "down", "2026-01-02T00:00:00Z")),
        // ... and never a deleted one,
        create(alice, VOTE, "3kvote0000003", "3krev00000003", 3, vote(POST, "up", "2026-01-03T00:00:00Z")),
        delete(alice, VOTE, "3kvote0000003", "3krev00000004", 4),
        // nor her vote on another subject, nor another voter's.
        create(alice, VOTE, "3kvote0000004", "3krev00000005", 5, vote(COMMENT, "up", "2026-01-04T00:00:00Z")),
        create(bob, VOTE, "3kvote0000005", "3krev00000006", 6, vote(POST, "up", "2026-01-05T00:00:00Z")),
    ])
    .await;
    let counts = app.vote_counts().await;
    let rows = stored_votes(&app).await;

    let (status, body) = post(&app, DELETE, Some(&token), &json!({"subject": subject(POST)})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "error": "WriteDirectlyToPDS",
            "message": DELETE_MESSAGE,
            "procedure": "social.coves.feed.vote.delete",
            "pdsMethod": "com.atproto.repo.deleteRecord",
            "repo": alice,
            "collection": VOTE,
            "rkey": "3kvote0000002",
        })
    );
    // The subject's CID is not needed to find the vote.
    let (_, body) = post(&app, DELETE, Some(&token), &json!({"subject": {"uri": COMMENT}})).await;
    assert_eq!(body["rkey"], "3kvote0000004");

    // Creating a vote where one is indexed names the record to delete first.
    let (status, body) = post(&app, CREATE, Some(&token), &json!({"subject": subject(POST), "direction": "up"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["existingVote"],
        json!({"uri": format!("at://{alice}/{VOTE}/3kvote0000002"), "rkey": "3kvote0000002", "direction": "down"})
    );
    assert!(body.get("rkey").is_none(), "{body}");

    // Nothing was written.
    assert_eq!(app.vote_counts().await, counts);
    assert_eq!(stored_votes(&app).await, rows);
    app.stop().await;
}

#[tokio::test]
async fn delete_without_a_known_vote_says_where_its_uri_is() {
    let app = TestApp::start().await;
    let (alice, token) = viewer(&app, "alice.test");
    let alice = alice.did.as_str();
    let cases = [
        ("anonymous", None, json!({"subject": subject(POST)})),
        ("no vote indexed", Some(token.as_str()), json!({"subject": subject(POST)})),
        ("no subject", Some(token.as_str()), json!({})),
        ("not an AT-URI", Some(token.as_str()), json!({"subject": {"uri": "https://example.com", "cid": CID}})),
    ];
    for (case, token, request) in cases {
        let (status, body) = post(&app, DELETE, token, &request).await;
        let mut expected = json!({
            "error": "WriteDirectlyToPDS",
            "message": DELETE_MESSAGE_WITHOUT_RKEY,
            "procedure": "social.coves.feed.vote.delete",
            "pdsMethod": "com.atproto.repo.deleteRecord",
            "collection": VOTE,
        });
        if token.is_some() {
            expected["repo"] = json!(alice);
        }
        assert_eq!((status, body), (400, expected), "{case}");
    }
    // No existing vote: no `existingVote`.
    let (_, body) = post(&app, CREATE, Some(&token), &json!({"subject": subject(POST), "direction": "up"})).await;
    assert!(body.get("existingVote").is_none(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn every_http_method_gets_the_same_answer_and_nothing_is_written() {
    let app = TestApp::start().await;
    let (_, token) = viewer(&app, "alice.test");
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let (status, mut body) = call(&app, method.clone(), CREATE, Some(&token), None).await;
        assert_eq!((status, &body["error"]), (400, &json!("WriteDirectlyToPDS")), "{method}: {body}");
        take_created_at(&mut body);
        assert_eq!(body["record"], template(), "{method}");
        // A body is read whatever the method.
        let request = serde_json::to_vec(&json!({"subject": subject(POST), "direction": "up"})).expect("JSON");
        let (status, body) = call(&app, method.clone(), CREATE, None, Some(request)).await;
        assert_eq!((status, &body["record"]["direction"]), (400, &json!("up")), "{method}: {body}");

        let (status, body) = call(&app, method.clone(), DELETE, None, None).await;
        assert_eq!((status, &body["message"]), (400, &json!(DELETE_MESSAGE_WITHOUT_RKEY)), "{method}: {body}");
    }
    // Ordinary methods keep their 405.
    let (status, body) = call(&app, Method::PUT, "/xrpc/social.coves.community.get", None, None).await;
    assert_eq!(
        (status, body),
        (405, json!({"error": "InvalidRequest", "message": "PUT is not allowed on /xrpc/social.coves.community.get"}))
    );
    let (status, body) = call(&app, Method::POST, "/xrpc/social.coves.community.get", None, None).await;
    assert_eq!(
        (status, &body["message"]),
        (405, &json!("social.coves.community.get is an XRPC query: call it with GET"))
    );

    assert_eq!(stored_votes(&app).await, 0);
    assert!(app.vote_counts().await.is_empty());
    app.stop().await;
}

const COMMENT_NSID: &str = "social.coves.community.comment";
const COMMENT_CREATE: &str = "/xrpc/social.coves.community.comment.create";
const COMMENT_UPDATE: &str = "/xrpc/social.coves.community.comment.update";
const COMMENT_DELETE: &str = "/xrpc/social.coves.community.comment.delete";
const COMMENT_CREATE_MESSAGE: &str = "Read-only AppView: create a social.coves.community.comment record with \
     com.atproto.repo.createRecord on your own PDS.";
const COMMENT_UPDATE_MESSAGE: &str = "Read-only AppView: update your social.coves.community.comment record with \
     com.atproto.repo.putRecord on your own PDS.";
const COMMENT_DELETE_MESSAGE: &str = "Read-only AppView: delete your social.coves.community.comment record with \
     com.atproto.repo.deleteRecord on your own PDS.";
const COMMENT_DELETE_MESSAGE_WITHOUT_RKEY: &str = "Read-only AppView: delete your social.coves.community.comment \
     record with com.atproto.repo.deleteRecord on your own PDS; take its record key from the last segment of the \
     uri of the comment view.";
const KEEP_NOTE: &str = "putRecord replaces the whole record: keep reply and createdAt of the current version \
     (this AppView ignores an update that changes reply) and pass swapRecord = its CID.";

/// The record of a comment create answered without a usable body.
fn comment_template() -> Value {
    json!({
        "$type": COMMENT_NSID,
        "reply": {
            "root": {"uri": "<AT-URI of the post at the top of the thread>", "cid": "<CID of the post at the top of the thread>"},
            "parent": {"uri": "<AT-URI of the post or comment replied to>", "cid": "<CID of the post or comment replied to>"},
        },
        "content": "<comment text, 1 to 30000 bytes>",
    })
}

async fn stored_comments(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = app.db.connect().await;
    let rows: Vec<Count> =
        diesel::sql_query("SELECT count(*) AS n FROM comments").load(&mut conn).await.expect("count comments");
    rows[0].n
}

#[tokio::test]
async fn comment_create_answers_the_record_to_write() {
    let app = TestApp::start().await;
    let (alice, token) = viewer(&app, "alice.test");
    let facets =
        json!([{"index": {"byteStart": 0, "byteEnd": 5}, "features": [{"$type": "social.coves.richtext.facet#bold"}]}]);
    let image =
        json!({"$type": "social.coves.embed.images", "images": [{"image": "iVBORw0KGgo".repeat(60), "alt": "a cat"}]});
    let request = json!({
        "reply": {"root": subject(POST), "parent": {"$type": "com.atproto.repo.strongRef", "uri": COMMENT, "cid": CID}},
        "content": "Great point.", "facets": facets, "embed": image, "langs": ["en"], "ignored": true,
    });
    let (status, mut body) = post(&app, COMMENT_CREATE, Some(&token), &request).await;
    assert_eq!(status, 400);
    take_created_at(&mut body);
    assert_eq!(
        body,
        json!({
            "error": "WriteDirectlyToPDS",
            "message": COMMENT_CREATE_MESSAGE,
            "procedure": "social.coves.community.comment.create",
            "pdsMethod": "com.atproto.repo.createRecord",
            "repo": alice.did.as_str(),
            "collection": COMMENT_NSID,
            "record": {
                "$type": COMMENT_NSID,
                "reply": {"root": subject(POST), "parent": subject(COMMENT)},
                "content": "Great point.",
                "facets": facets,
                "embed": {"$type": "social.coves.embed.images",
                          "images": [{"image": coves_plugin_api::write_directly::OMITTED_DATA, "alt": "a cat"}]},
                "langs": ["en"],
            },
        })
    );

    // Unusable bodies and parts get placeholders: references must name their repo by DID
    // (the indexer refuses others), content must fit the indexed limit.
    for body in [None, Some(b"not json".to_vec())] {
        let (status, mut answer) = call(&app, Method::POST, COMMENT_CREATE, None, body).await;
        assert_eq!(status, 400);
        take_created_at(&mut answer);
        assert_eq!(answer["record"], comment_template());
        assert_eq!(answer["message"], COMMENT_CREATE_MESSAGE);
    }
    let by_handle = "at://alice.test/social.coves.community.comment/3kcomm0000001";
    let request =
        json!({"reply": {"root": subject(POST), "parent": subject(by_handle)}, "content": "x".repeat(30_001)});
    let (_, mut answer) = post(&app, COMMENT_CREATE, None, &request).await;
    take_created_at(&mut answer);
    let mut expected = comment_template();
    expected["reply"]["root"] = subject(POST);
    assert_eq!(answer["record"], expected);
    assert_eq!(answer["note"], "content is 30001 bytes; this AppView indexes comments of at most 30000 bytes.");
    assert_eq!(stored_comments(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn comment_update_keeps_the_thread_and_names_the_current_version() {
    let app = TestApp::start().await;
    let (alice, token) = viewer(&app, "alice.test");
    let (_, bob_token) = viewer(&app, "bob.test");
    let alice = alice.did.as_str();
    let record = json!({
        "$type": COMMENT_NSID, "reply": {"root": subject(POST), "parent": subject(POST)},
        "content": "Frist!", "langs": ["en"], "facets": [], "createdAt": "2026-01-02T03:04:05.000Z", "client": "kelp",
    });
    app.ingest(&[create(alice, COMMENT_NSID, "3kcomm0000001", "3krev00000001", 1, record)]).await;
    let mine = format!("at://{alice}/{COMMENT_NSID}/3kcomm0000001");
    let rows = stored_comments(&app).await;

    let request = json!({"uri": mine, "content": "First!", "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": []}});
    let (status, body) = post(&app, COMMENT_UPDATE, Some(&token), &request).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "error": "WriteDirectlyToPDS",
            "message": COMMENT_UPDATE_MESSAGE,
            "procedure": "social.coves.community.comment.update",
            "pdsMethod": "com.atproto.repo.putRecord",
            "repo": alice,
            "collection": COMMENT_NSID,
            "rkey": "3kcomm0000001",
            // reply, createdAt and unknown keys stay; the editable fields are the body's.
            "record": {
                "$type": COMMENT_NSID, "reply": {"root": subject(POST), "parent": subject(POST)},
                "createdAt": "2026-01-02T03:04:05.000Z", "client": "kelp", "content": "First!",
                "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": []},
            },
            "swapRecord": "bafyreitest3krev00000001",
            "note": KEEP_NOTE,
        })
    );
    // Without a token the URI still names the record; without a content the current one stays.
    let (_, anonymous) = post(&app, COMMENT_UPDATE, None, &json!({"uri": mine})).await;
    assert_eq!((anonymous.get("repo"), &anonymous["rkey"]), (None, &json!("3kcomm0000001")), "{anonymous}");
    assert_eq!(anonymous["record"]["content"], "Frist!");

    // Someone else's comment: not theirs to change, nothing read from it.
    let (status, body) = post(&app, COMMENT_UPDATE, Some(&bob_token), &request).await;
    assert_eq!(status, 400);
    assert!(body.get("rkey").is_none() && body.get("swapRecord").is_none(), "{body}");
    assert_eq!(
        body["note"],
        format!("{KEEP_NOTE} {mine} lives in {alice}'s repo, not yours: only its author can change it.")
    );
    assert_eq!(body["record"]["createdAt"], "<createdAt of the comment, unchanged>");

    // A comment not indexed (yet): its rkey, placeholders for what to keep.
    let unknown = format!("at://{alice}/{COMMENT_NSID}/3kcomm0000009");
    let (_, body) = post(&app, COMMENT_UPDATE, Some(&token), &json!({"uri": unknown, "content": "New."})).await;
    assert_eq!(body["rkey"], "3kcomm0000009");
    assert!(body.get("swapRecord").is_none(), "{body}");
    assert_eq!(
        body["record"],
        json!({
            "$type": COMMENT_NSID,
            "reply": {
                "root": {"uri": "<AT-URI of the post at the top of the thread, unchanged>",
                         "cid": "<CID of the post at the top of the thread, unchanged>"},
                "parent": {"uri": "<AT-URI of the post or comment replied to, unchanged>",
                           "cid": "<CID of the post or comment replied to, unchanged>"},
            },
            "createdAt": "<createdAt of the comment, unchanged>",
            "content": "New.",
        })
    );
    assert_eq!(stored_comments(&app).await, rows, "nothing was written");
    app.stop().await;
}

#[tokio::test]
async fn comment_delete_names_the_rkey_of_the_viewers_comment() {
    let app = TestApp::start().await;
    let (alice, token) = viewer(&app, "alice.test");
    let (_, bob_token) = viewer(&app, "bob.test");
    let alice = alice.did.as_str();
    let mine = format!("at://{alice}/{COMMENT_NSID}/3kcomm0000001");

    for method in [Method::POST, Method::GET] {
        let request = serde_json::to_vec(&json!({"uri": mine})).expect("JSON");
        let (status, body) = call(&app, method.clone(), COMMENT_DELETE, Some(&token), Some(request)).await;
        assert_eq!(status, 400, "{method}");
        assert_eq!(
            body,
            json!({
                "error": "WriteDirectlyToPDS",
                "message": COMMENT_DELETE_MESSAGE,
                "procedure": "social.coves.community.comment.delete",
                "pdsMethod": "com.atproto.repo.deleteRecord",
                "repo": alice,
                "collection": COMMENT_NSID,
                "rkey": "3kcomm0000001",
            }),
            "{method}"
        );
    }
    // No usable URI: the message says where to find it.
    for request in
        [json!({}), json!({"uri": POST}), json!({"uri": "at://alice.test/social.coves.community.comment/3k"})]
    {
        let (status, body) = post(&app, COMMENT_DELETE, Some(&token), &request).await;
        assert_eq!((status, &body["message"]), (400, &json!(COMMENT_DELETE_MESSAGE_WITHOUT_RKEY)), "{request}");
        assert!(body.get("rkey").is_none(), "{body}");
    }
    let (_, body) = post(&app, COMMENT_DELETE, Some(&bob_token), &json!({"uri": mine})).await;
    assert!(body.get("rkey").is_none(), "{body}");
    assert_eq!(body["note"], format!("{mine} lives in {alice}'s repo, not yours: only its author can change it."));
    assert_eq!(stored_comments(&app).await, 0);
    app.stop().await;
}
