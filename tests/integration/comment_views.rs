//! Reading threads: XRPC `comment.getComments` and `actor.getComments` (COVES_API §4.8,
//! §4.11, §5.2, §5.3) and GraphQL `Post.comments` / `Comment.replies`: shapes, depth and
//! breadth limits, placeholders, ranking, counters and viewer state.

use coves_tests::auth::{TestKey, mint, now};
use coves_tests::forum::{COMMENT, Forum, POST, Ref, known_actor, readable_community};
use coves_tests::{TestApp, encode};
use serde_json::{Value, json};

const COMMUNITY: &str = "did:plc:community222222222222222";
const OTHER_COMMUNITY: &str = "did:plc:othercommunity2222222222";
const ALICE: &str = "did:plc:alice2222222222222222222";
const BOB: &str = "did:plc:bob222222222222222222222";
const AUDIENCE: &str = "did:web:appview.test";

/// `2026-01-02T00:MM:SSZ` for a minute and second.
fn at(minute: u32, second: u32) -> String {
    format!("2026-01-02T00:{minute:02}:{second:02}Z")
}

async fn setup(app: &TestApp) -> Forum {
    readable_community(app, COMMUNITY, "gardening").await;
    readable_community(app, OTHER_COMMUNITY, "cooking").await;
    known_actor(app, ALICE, "alice.test").await;
    known_actor(app, BOB, "bob.test").await;
    Forum::new()
}

async fn get_comments(app: &TestApp, post: &Ref, query: &str) -> Value {
    let answer =
        app.get(&format!("/xrpc/social.coves.community.comment.getComments?post={}{query}", encode(&post.uri))).await;
    assert_eq!(answer.status, 200, "{query}: {:?}", answer.body);
    answer.body
}

/// The content of each thread item, nested like the thread (`"-"` for placeholders).
fn shape(threads: &Value) -> Value {
    Value::Array(
        threads
            .as_array()
            .expect("thread list")
            .iter()
            .map(|t| {
                let content = t["comment"]["record"]["content"].as_str().unwrap_or("-").to_owned();
                match t.get("replies") {
                    Some(replies) => json!({content: shape(replies)}),
                    None if t.get("hasMore").is_some() => json!(format!("{content} …")),
                    None => json!(content),
                }
            })
            .collect(),
    )
}

#[tokio::test]
async fn get_comments_expands_threads_with_limits_and_placeholders() {
    let app = TestApp::start().await;
    let forum = setup(&app).await;
    let (post, p) = forum.post(COMMUNITY, ALICE, "Thread", &at(0, 0));
    let (a, ca) = forum.comment(BOB, &post, &post, "a", &at(1, 0));
    let (b, cb) = forum.comment(ALICE, &post, &post, "b", &at(2, 0));
    let (a1, ca1) = forum.comment(ALICE, &post, &a, "a1", &at(3, 0));
    let (a1x, ca1x) = forum.comment(BOB, &post, &a1, "a1x", &at(4, 0));
    let (_, ca1xy) = forum.comment(ALICE, &post, &a1x, "a1xy", &at(5, 0));
    let mut events = vec![p, ca, cb, ca1, ca1x, ca1xy];
    // Seven replies to b: a level shows five, newest first.
    for i in 0..7 {
        events.push(forum.comment(BOB, &post, &b, &format!("b{i}"), &at(10, i)).1);
    }
    app.ingest(&events).await;
    // a1 is deleted: it stays as a placeholder that keeps its reply.
    app.ingest(&[forum.delete(ALICE, COMMENT, &a1)]).await;

    let thread = get_comments(&app, &post, "&sort=new&depth=2").await;
    assert_eq!(
        shape(&thread["comments"]),
        json!([
            {"b": ["b6", "b5", "b4", "b3", "b2"]},
            {"a": [{"-": ["a1x …"]}]},
        ])
    );
    assert!(thread.get("cursor").is_none());
    let b_thread = &thread["comments"][0];
    assert_eq!(b_thread["hasMore"], true, "b has 7 replies and shows 5");
    assert_eq!(b_thread["comment"]["stats"], json!({"upvotes": 0, "downvotes": 0, "score": 0, "replyCount": 7}));
    assert!(b_thread["comment"].get("parent").is_none(), "top-level comments have no parent");
    assert_eq!(b_thread["comment"]["post"], json!({"uri": post.uri, "cid": post.cid}));
    assert_eq!(b_thread["comment"]["author"], json!({"did": ALICE, "handle": "alice.test"}));
    assert_eq!(b_thread["comment"]["record"]["$type"], COMMENT);
    assert!(b_thread["comment"]["createdAt"].as_str().expect("createdAt").ends_with('Z'));
    let placeholder = &thread["comments"][1]["replies"][0]["comment"];
    assert_eq!(placeholder["uri"], a1.uri);
    assert_eq!(placeholder["author"], json!({"did": ALICE, "handle": ""}));
    assert_eq!(placeholder["record"], Value::Null);
    assert_eq!(
        (placeholder["isDeleted"].as_bool(), placeholder["deletionReason"].as_str()),
        (Some(true), Some("author"))
    );
    assert!(placeholder["deletedAt"].as_str().expect("deletedAt").ends_with('Z'));
    assert_eq!(placeholder["stats"]["replyCount"], 1);
    assert_eq!(placeholder["parent"], json!({"uri": a.uri, "cid": a.cid}));
    assert!(placeholder.get("viewer").is_none() && placeholder.get("embed").is_none());
    // The post: a full PostView with the direct comment count.
    assert_eq!(thread["post"]["uri"], post.uri);
    assert_eq!(thread["post"]["stats"]["commentCount"], 2);

    // depth=0: no replies; hasMore says where replies exist.
    assert_eq!(shape(&get_comments(&app, &post, "&sort=new&depth=0").await["comments"]), json!(["b …", "a …"]));

    // Top-level pages: limit and cursor, no repeats.
    let first = get_comments(&app, &post, "&sort=new&depth=0&limit=1").await;
    assert_eq!(shape(&first["comments"]), json!(["b …"]));
    let cursor = first["cursor"].as_str().expect("a cursor while more follow");
    let second = get_comments(&app, &post, &format!("&sort=new&depth=0&limit=1&cursor={}", encode(cursor))).await;
    assert_eq!(shape(&second["comments"]), json!(["a …"]));
    assert!(second.get("cursor").is_none());

    // "N more replies": anchored at b, its replies are the page.
    let more = get_comments(&app, &post, &format!("&sort=new&parentRkey={}&limit=3", b.rkey)).await;
    assert_eq!(shape(&more["comments"]), json!([{"b": ["b6", "b5", "b4"]}]));
    assert_eq!(more["comments"][0]["hasMore"], true);
    let rest = get_comments(
        &app,
        &post,
        &format!("&sort=new&parentRkey={}&limit=3&cursor={}", b.rkey, encode(more["cursor"].as_str().expect("cursor"))),
    )
    .await;
    assert_eq!(shape(&rest["comments"]), json!([{"b": ["b3", "b2", "b1"]}]));
    // Anchored at the placeholder, its reply shows.
    let under_placeholder = get_comments(&app, &post, &format!("&parentRkey={}", a1.rkey)).await;
    assert_eq!(shape(&under_placeholder["comments"]), json!([{"-": [{"a1x": ["a1xy"]}]}]));
}

#[tokio::test]
async fn get_comments_errors_and_deleted_posts() {
    let app = TestApp::start().await;
    let forum = setup(&app).await;
    let (post, p) = forum.post(COMMUNITY, ALICE, "Soon gone", &at(0, 0));
    let (_, c) = forum.comment(BOB, &post, &post, "still here", &at(1, 0));
    app.ingest(&[p, c]).await;
    let base = format!("/xrpc/social.coves.community.comment.getComments?post={}", encode(&post.uri));
    for (query, status, error) in [
        ("/xrpc/social.coves.community.comment.getComments".to_owned(), 400, "InvalidRequest"),
        ("/xrpc/social.coves.community.comment.getComments?post=https://example.com".to_owned(), 400, "InvalidRequest"),
        (format!("{base}&sort=best"), 400, "InvalidRequest"),
        (format!("{base}&timeframe=day"), 400, "InvalidRequest"),
        (format!("{base}&sort=top&timeframe=decade"), 400, "InvalidRequest"),
        (format!("{base}&depth=-1"), 400, "InvalidRequest"),
        (format!("{base}&limit=0"), 400, "InvalidRequest"),
        (format!("{base}&limit=101"), 400, "InvalidRequest"),
        (format!("{base}&cursor=nonsense"), 400, "InvalidCursor"),
        (format!("{base}&parentRkey=3lzzzzzzzzzzz"), 404, "ParentNotFound"),
        (
            format!(
                "/xrpc/social.coves.community.comment.getComments?post={}",
                encode(&format!("at://{COMMUNITY}/{POST}/3lnothere0000"))
            ),
            404,
            "RootNotFound",
        ),
    ] {
        let answer = app.get(&query).await;
        assert_eq!((answer.status, answer.body["error"].as_str()), (status, Some(error)), "{query}: {:?}", answer.body);
    }
    let timeframe = app.get(&format!("{base}&timeframe=day")).await;
    assert_eq!(timeframe.body["message"], "timeframe can only be used with sort=top");
    assert_eq!(app.get(&format!("{base}&sort=top&timeframe=year&depth=500&unknown=1")).await.status, 200);

    // A deleted post still serves its thread, with a reduced record.
    app.ingest(&[forum.delete(COMMUNITY, POST, &post)]).await;
    let thread = get_comments(&app, &post, "").await;
    assert_eq!(shape(&thread["comments"]), json!(["still here"]));
    assert_eq!(
        (thread["post"]["isDeleted"].as_bool(), thread["post"]["deletionReason"].as_str()),
        (Some(true), Some("author"))
    );
    let record = thread["post"]["record"].as_object().expect("record");
    let mut keys: Vec<&str> = record.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["$type", "author", "community", "createdAt"]);
    assert_eq!(record["createdAt"], "2026-01-02T00:00:00.000Z");
}

#[tokio::test]
async fn comments_rank_hot_top_and_new() {
    let app = TestApp::start().await;
    let forum = setup(&app).await;
    let (post, p) = forum.post(COMMUNITY, ALICE, "Ranked", &at(0, 0));
    let mut events = vec![p];
    // (content, minute, upvotes, downvotes).
    let mut refs = Vec::new();
    for (content, minute, up, down) in [("old", 1, 5, 0), ("mid", 2, 1, 0), ("new", 3, 0, 0), ("bad", 4, 0, 3)] {
        let (comment, event) = forum.comment(BOB, &post, &post, content, &at(minute, 0));
        events.push(event);
        for i in 0..up {
            events.push(forum.vote(&format!("did:plc:up{content}{i:0>19}"), &comment, "up").1);
        }
        for i in 0..down {
            events.push(forum.vote(&format!("did:plc:dn{content}{i:0>19}"), &comment, "down").1);
        }
        refs.push(comment);
    }
    app.ingest(&events).await;
    let order = |body: &Value| shape(&body["comments"]);
    assert_eq!(order(&get_comments(&app, &post, "&sort=new").await), json!(["bad", "new", "mid", "old"]));
    assert_eq!(order(&get_comments(&app, &post, "&sort=top").await), json!(["old", "mid", "new", "bad"]));
    // hot = log10(max(2, score + 2)) / (ageHours + 2)^1.8: the ages are nearly equal, and
    // every score ≤ 0 weighs like 0, so "bad" (one minute younger) passes "new".
    assert_eq!(order(&get_comments(&app, &post, "&sort=hot").await), json!(["old", "mid", "bad", "new"]));
    // The comments are from January 2026: nothing in the last hour.
    assert_eq!(order(&get_comments(&app, &post, "&sort=top&timeframe=hour").await), json!([]));
    let stats = &get_comments(&app, &post, "&sort=new").await["comments"][0]["comment"]["stats"];
    assert_eq!(*stats, json!({"upvotes": 0, "downvotes": 3, "score": -3, "replyCount": 0}));
}

#[tokio::test]
async fn viewer_state_and_actor_comments() {
    let app = TestApp::start().await;
    let forum = setup(&app).await;
    let key = TestKey::k256();
    let carol = app.network.add_plc_identity("carol.test", &key.multikey());
    let token = mint(&key, carol.did.as_str(), AUDIENCE, now() + 600, None);
    let (post, p) = forum.post(COMMUNITY, ALICE, "Gardening", &at(0, 0));
    let (cooking, p2) = forum.post(OTHER_COMMUNITY, ALICE, "Cooking", &at(0, 1));
    let (first, c1) = forum.comment(BOB, &post, &post, "first", &at(1, 0));
    let (second, c2) = forum.comment(BOB, &post, &first, "second", &at(2, 0));
    let (_, c3) = forum.comment(BOB, &cooking, &cooking, "third", &at(3, 0));
    let (gone, c4) = forum.comment(BOB, &post, &post, "gone", &at(4, 0));
    let (vote, v) = forum.vote(carol.did.as_str(), &second, "down");
    app.ingest(&[p, p2, c1, c2, c3, c4, v]).await;
    app.ingest(&[forum.delete(BOB, COMMENT, &gone)]).await;

    let path = format!("/xrpc/social.coves.community.comment.getComments?post={}&sort=new", encode(&post.uri));
    let as_carol = app.get_as(&token, &path).await.body;
    assert_eq!(as_carol["comments"][0]["comment"]["viewer"], json!({}), "no vote: an empty viewer");
    assert_eq!(
        as_carol["comments"][0]["replies"][0]["comment"]["viewer"],
        json!({"vote": "down", "voteUri": vote.uri})
    );
    assert_eq!(as_carol["post"]["viewer"], json!({"saved": false}));
    let anonymous = app.get(&path).await.body;
    assert!(anonymous["comments"][0]["comment"].get("viewer").is_none());
    assert_eq!(shape(&anonymous["comments"]), json!([{"first": ["second"]}]), "deleted comments are never top-level");

    let contents = |body: &Value| -> Vec<String> {
        body["comments"]
            .as_array()
            .expect("comments")
            .iter()
            .map(|c| c["record"]["content"].as_str().expect("content").to_owned())
            .collect()
    };
    let all = app.get("/xrpc/social.coves.actor.getComments?actor=bob.test").await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(contents(&all.body), ["third", "second", "first"]);
    assert_eq!(all.body["comments"][1]["parent"], json!({"uri": first.uri, "cid": first.cid}));
    let in_cooking =
        app.get("/xrpc/social.coves.actor.getComments?actor=bob.test&community=c-cooking.coves.test").await;
    assert_eq!(contents(&in_cooking.body), ["third"]);
    let paged = app.get("/xrpc/social.coves.actor.getComments?actor=bob.test&limit=2").await;
    assert_eq!(contents(&paged.body), ["third", "second"]);
    let next = app
        .get(&format!(
            "/xrpc/social.coves.actor.getComments?actor=bob.test&limit=2&cursor={}",
            encode(paged.body["cursor"].as_str().expect("cursor"))
        ))
        .await;
    assert_eq!(contents(&next.body), ["first"]);
    assert!(next.body.get("cursor").is_none());
    for (query, status, error) in [
        ("", 400, "InvalidRequest"),
        ("?actor=nobody.test", 404, "ActorNotFound"),
        ("?actor=bob.test&community=c-nowhere.coves.test", 404, "CommunityNotFound"),
        ("?actor=bob.test&limit=lots", 400, "InvalidRequest"),
    ] {
        let answer = app.get(&format!("/xrpc/social.coves.actor.getComments{query}")).await;
        assert_eq!((answer.status, answer.body["error"].as_str()), (status, Some(error)), "{query}: {:?}", answer.body);
    }
}

const THREAD: &str = "query($uri: String!) { post(uri: $uri) { commentCount totalCommentCount score
  comments(sort: NEW, first: 10) { totalCount edges { node { content isDeleted replyCount totalReplyCount score viewerVote { direction }
    author { handle }
    replies(sort: NEW, first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { content isDeleted replyCount author { handle }
      replies { nodes { content } } } } } } } } }";

#[tokio::test]
async fn graphql_threads_nest_with_counts_whatever_the_order_of_arrival() {
    let app = TestApp::start().await;
    let forum = setup(&app).await;
    let (post, p) = forum.post(COMMUNITY, ALICE, "Out of order", &at(0, 0));
    let (top, c1) = forum.comment(BOB, &post, &post, "top", &at(1, 0));
    let (reply, c2) = forum.comment(ALICE, &post, &top, "reply", &at(2, 0));
    let (_, c3) = forum.comment(BOB, &post, &reply, "deep", &at(3, 0));
    let (_, c4) = forum.comment(BOB, &post, &top, "second reply", &at(4, 0));
    let (_, c5) = forum.comment(ALICE, &post, &top, "third reply", &at(5, 0));
    let (_, v1) = forum.vote(ALICE, &top, "up");
    let (_, v2) = forum.vote("did:plc:voter22222222222222222222", &post, "up");
    // Everything below arrives before what it hangs off: the deepest reply first, votes
    // before their subjects, the post last.
    app.ingest(&[c3, v1]).await;
    app.ingest(&[c5, c4, c2]).await;
    app.ingest(&[v2, c1]).await;
    app.ingest(&[p]).await;
    app.ingest(&[forum.delete(ALICE, COMMENT, &reply)]).await;

    let body = app.graphql(THREAD, json!({"uri": post.uri})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let post_view = &body["data"]["post"];
    assert_eq!((post_view["commentCount"].as_i64(), post_view["totalCommentCount"].as_i64()), (Some(1), Some(4)));
    assert_eq!(post_view["score"], 1);
    let top_node = &post_view["comments"]["edges"][0]["node"];
    assert_eq!(post_view["comments"]["totalCount"], 1);
    assert_eq!(
        (top_node["content"].as_str(), top_node["replyCount"].as_i64(), top_node["score"].as_i64()),
        (Some("top"), Some(2), Some(1))
    );
    assert_eq!(top_node["author"]["handle"], "bob.test");
    // Below "top": two live replies, a placeholder, and the placeholder's live reply.
    assert_eq!(top_node["totalReplyCount"], 3);
    assert_eq!(top_node["viewerVote"], Value::Null);
    let replies = &top_node["replies"];
    // Three replies (one a placeholder), two per page, newest first.
    assert_eq!(replies["totalCount"], 3);
    assert_eq!(replies["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        replies["nodes"],
        json!([
            {"content": "third reply", "isDeleted": false, "replyCount": 0, "author": {"handle": "alice.test"}, "replies": {"nodes": []}},
            {"content": "second reply", "isDeleted": false, "replyCount": 0, "author": {"handle": "bob.test"}, "replies": {"nodes": []}},
        ])
    );
    let page_two = "query($uri: String!, $after: String) { post(uri: $uri) { comments(sort: NEW) { nodes {
        replies(sort: NEW, first: 2, after: $after) { pageInfo { hasNextPage } nodes { content isDeleted replyCount author { handle } replies { nodes { content } } } } } } } }";
    let after = replies["pageInfo"]["endCursor"].clone();
    let next = app.graphql(page_two, json!({"uri": post.uri, "after": after})).await;
    assert_eq!(
        next["data"]["post"]["comments"]["nodes"][0]["replies"],
        json!({"pageInfo": {"hasNextPage": false}, "nodes": [
            {"content": null, "isDeleted": true, "replyCount": 1, "author": null, "replies": {"nodes": [{"content": "deep"}]}}
        ]})
    );
}
