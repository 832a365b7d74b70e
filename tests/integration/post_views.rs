//! The XRPC post views Kelp and the mobile app read (COVES_API §4.7, §4.10, §5.1): shapes,
//! counts, viewer state, pagination and errors.

use coves_tests::auth::{TestKey, mint, now};
use coves_tests::forum::{Forum, POST, known_actor, readable_community};
use coves_tests::{TestApp, encode};
use serde_json::{Value, json};

const COMMUNITY: &str = "did:plc:community222222222222222";
const OTHER_COMMUNITY: &str = "did:plc:othercommunity2222222222";
const ALICE: &str = "did:plc:alice2222222222222222222";
const BOB: &str = "did:plc:bob222222222222222222222";
const AUDIENCE: &str = "did:web:appview.test";

fn assert_utc_z(value: &Value, path: &str) {
    let s = value.as_str().unwrap_or_else(|| panic!("{path} is not a string: {value}"));
    assert!(s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok(), "{path} = {s}");
}

async fn setup(app: &TestApp) -> Forum {
    readable_community(app, COMMUNITY, "gardening").await;
    readable_community(app, OTHER_COMMUNITY, "cooking").await;
    known_actor(app, ALICE, "alice.test").await;
    known_actor(app, BOB, "bob.test").await;
    Forum::new()
}

#[tokio::test]
async fn post_get_answers_one_view_per_uri_in_request_order() {
    let app = TestApp::start().await;
    let forum = setup(&app).await;
    let key = TestKey::p256();
    let carol = app.network.add_plc_identity("carol.test", &key.multikey());
    let token = mint(&key, carol.did.as_str(), AUDIENCE, now() + 600, None);

    let blob = json!({"$type": "blob", "ref": {"$link": "bafkreiimage"}, "mimeType": "image/png", "size": 10});
    let (post, created) = forum.create(
        COMMUNITY,
        POST,
        json!({"$type": POST, "community": COMMUNITY, "author": ALICE, "title": "Tomatoes", "content": "Red ones.",
               "embed": {"$type": "social.coves.embed.images", "images": [{"image": blob, "alt": "a tomato"}]},
               "createdAt": "2026-01-02T03:04:05.6+01:00", "futureField": {"kept": true}}),
    );
    let (gone, created_gone) = forum.post(COMMUNITY, BOB, "Gone", "2026-01-01T00:00:00Z");
    let (top1, c1) = forum.comment(BOB, &post, &post, "first!", "2026-01-02T04:00:00Z");
    let (top2, c2) = forum.comment(ALICE, &post, &post, "second", "2026-01-02T04:00:01Z");
    let (_, r1) = forum.comment(ALICE, &post, &top1, "reply", "2026-01-02T04:00:02Z");
    let (_, r2) = forum.comment(BOB, &post, &top2, "reply", "2026-01-02T04:00:03Z");
    let (_, r3) = forum.comment(BOB, &post, &top1, "reply", "2026-01-02T04:00:04Z");
    let (vote, up) = forum.vote(carol.did.as_str(), &post, "up");
    let (_, down) = forum.vote("did:plc:dave22222222222222222222", &post, "down");
    let (_, up2) = forum.vote("did:plc:erin22222222222222222222", &post, "up");
    app.ingest(&[created, created_gone, c1, c2, r1, r2, r3, up, down, up2]).await;
    app.ingest(&[forum.delete(COMMUNITY, POST, &gone)]).await;

    let unknown = format!("at://{COMMUNITY}/{POST}/3lunknown0000");
    let path = format!(
        "/xrpc/social.coves.community.post.get?uris={}&uris={}&uris={}&listing=discover",
        encode(&unknown),
        encode(&post.uri),
        encode(&gone.uri)
    );
    let anonymous = app.get(&path).await;
    assert_eq!(anonymous.status, 200, "{:?}", anonymous.body);
    let posts = anonymous.body["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), 3);
    for (i, uri) in [(0, &unknown), (2, &gone.uri)] {
        assert_eq!(
            posts[i],
            json!({"$type": "social.coves.community.post.get#notFoundPost", "uri": uri, "notFound": true})
        );
    }
    let view = &posts[1];
    assert_eq!(view["uri"], post.uri);
    assert_eq!(view["cid"], post.cid);
    assert_eq!(view["rkey"], post.rkey);
    assert_eq!(view["author"], json!({"did": ALICE, "handle": "alice.test"}));
    assert_eq!(view["community"]["did"], COMMUNITY);
    assert_eq!(view["community"]["name"], "gardening");
    assert_eq!(view["community"]["handle"], "c-gardening.coves.test");
    // Two top-level comments and three replies: commentCount counts the direct ones.
    assert_eq!(view["stats"], json!({"upvotes": 2, "downvotes": 1, "score": 1, "commentCount": 2}));
    assert_eq!(view["record"]["$type"], POST);
    assert_eq!(view["record"]["createdAt"], "2026-01-02T02:04:05.600Z");
    assert_eq!(view["record"]["futureField"], json!({"kept": true}));
    assert_eq!(view["record"]["embed"]["images"][0]["image"]["ref"]["$link"], "bafkreiimage");
    let thumb = view["embed"]["images"][0]["thumb"].as_str().expect("thumb URL");
    assert!(
        thumb.starts_with("https://pds.coves.test/xrpc/com.atproto.sync.getBlob?did=did%3Aplc%3Acommunity"),
        "{thumb}"
    );
    assert_eq!(view["embed"]["$type"], "social.coves.embed.images");
    for field in ["createdAt", "indexedAt"] {
        assert_utc_z(&view[field], field);
    }
    assert_eq!(view["createdAt"], "2026-01-02T02:04:05.600Z");
    assert!(view.get("viewer").is_none() && view.get("editedAt").is_none(), "{view}");

    let as_carol = app.get_as(&token, &path).await;
    assert_eq!(as_carol.body["posts"][1]["viewer"], json!({"vote": "up", "voteUri": vote.uri, "saved": false}));
    assert_eq!(as_carol.body["posts"][0]["notFound"], true);
    // A refused token reads anonymously (mobile signs out on 401).
    let refused = app.get_as("not-a-token", &path).await;
    assert_eq!(refused.status, 200);
    assert!(refused.body["posts"][1].get("viewer").is_none());

    let many: String =
        (0..26).map(|i| format!("uris={}&", encode(&format!("at://{COMMUNITY}/{POST}/3l{i:011}")))).collect();
    for bad in ["", "?uris=", "?uris=https%3A%2F%2Fexample.com", &format!("?{many}")] {
        let answer = app.get(&format!("/xrpc/social.coves.community.post.get{bad}")).await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str()),
            (400, Some("InvalidRequest")),
            "{bad}: {:?}",
            answer.body
        );
    }
}

#[tokio::test]
async fn actor_get_posts_pages_newest_first_with_filters_and_errors() {
    let app = TestApp::start().await;
    let forum = setup(&app).await;
    let mut events = Vec::new();
    for i in 0..7 {
        let community = if i % 2 == 0 { COMMUNITY } else { OTHER_COMMUNITY };
        events.push(forum.post(community, ALICE, &format!("alice {i}"), &format!("2026-01-0{}T00:00:00Z", i + 1)).1);
    }
    events.push(forum.post(COMMUNITY, BOB, "bob's", "2026-01-05T00:00:00Z").1);
    let blob = json!({"$type": "blob", "ref": {"$link": "bafkreithumb"}, "mimeType": "image/png", "size": 10});
    events.push(
        forum
            .create(
                COMMUNITY,
                POST,
                json!({"$type": POST, "community": COMMUNITY, "author": ALICE, "title": "with media",
                   "embed": {"$type": "social.coves.embed.external", "external": {"uri": "https://example.com", "thumb": blob}},
                   "createdAt": "2026-01-01T12:00:00Z"}),
            )
            .1,
    );
    app.ingest(&events).await;

    let titles = |body: &Value| -> Vec<String> {
        body["feed"]
            .as_array()
            .expect("feed")
            .iter()
            .map(|f| f["post"]["record"]["title"].as_str().expect("title").to_owned())
            .collect()
    };
    // Three pages of three, by handle; the last page has no cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/xrpc/social.coves.actor.getPosts?actor=alice.test&limit=3".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", encode(c)));
        }
        let page = app.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        seen.extend(titles(&page.body));
        match page.body.get("cursor") {
            Some(c) => cursor = Some(c.as_str().expect("cursor string").to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["alice 6", "alice 5", "alice 4", "alice 3", "alice 2", "alice 1", "with media", "alice 0"]);

    let media = app.get(&format!("/xrpc/social.coves.actor.getPosts?actor={ALICE}&filter=posts_with_media")).await;
    assert_eq!(titles(&media.body), ["with media"]);
    assert_eq!(
        media.body["feed"][0]["post"]["embed"]["external"]["thumb"].as_str().map(|u| u.contains("bafkreithumb")),
        Some(true)
    );
    let cooking = app.get("/xrpc/social.coves.actor.getPosts?actor=alice.test&community=c-cooking.coves.test").await;
    assert_eq!(titles(&cooking.body), ["alice 5", "alice 3", "alice 1"]);
    let clamped = app.get("/xrpc/social.coves.actor.getPosts?actor=alice.test&limit=0").await;
    assert_eq!(titles(&clamped.body).len(), 8);
    assert!(clamped.body.get("cursor").is_none());

    for (path, status, error) in [
        ("/xrpc/social.coves.actor.getPosts", 400, "InvalidRequest"),
        ("/xrpc/social.coves.actor.getPosts?actor=alice.test&filter=everything", 400, "InvalidRequest"),
        ("/xrpc/social.coves.actor.getPosts?actor=alice.test&limit=many", 400, "InvalidRequest"),
        ("/xrpc/social.coves.actor.getPosts?actor=alice.test&cursor=garbage", 400, "InvalidCursor"),
        ("/xrpc/social.coves.actor.getPosts?actor=did:plc:nobody222222222222222222", 404, "ActorNotFound"),
        ("/xrpc/social.coves.actor.getPosts?actor=alice.test&community=c-nowhere.coves.test", 404, "CommunityNotFound"),
    ] {
        let answer = app.get(path).await;
        assert_eq!((answer.status, answer.body["error"].as_str()), (status, Some(error)), "{path}: {:?}", answer.body);
    }
}
