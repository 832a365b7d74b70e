//! Reading posts through GraphQL: ranking (hot, top with timeframes, new), keyset
//! pagination over a feed that grows between pages, what is readable, the viewer's vote,
//! and the number of SQL queries a page costs.

use chrono::{Duration as Age, Utc};
use coves_tests::TestApp;
use coves_tests::auth::{TestKey, mint, now};
use coves_tests::events::account;
use coves_tests::forum::{Forum, Ref, known_actor, readable_community};
use coves_tests::network::TestIdentity;
use serde_json::{Value, json};

const COMMUNITY: &str = "did:plc:community222222222222222";
const OTHER_COMMUNITY: &str = "did:plc:othercommunity2222222222";
const ALICE: &str = "did:plc:alice2222222222222222222";
const BOB: &str = "did:plc:bob222222222222222222222";
const AUDIENCE: &str = "did:web:appview.test";

/// RFC 3339 for `hours` ago.
fn ago(hours: f64) -> String {
    let at = Utc::now() - Age::milliseconds((hours * 3_600_000.0) as i64);
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn forum(app: &TestApp) -> Forum {
    readable_community(app, COMMUNITY, "gardening").await;
    readable_community(app, OTHER_COMMUNITY, "cooking").await;
    known_actor(app, ALICE, "alice.test").await;
    known_actor(app, BOB, "bob.test").await;
    Forum::new()
}

/// `n` distinct voters vote `direction` on `subject`.
fn votes(forum: &Forum, subject: &Ref, n: usize, direction: &str, tag: &str) -> Vec<coves_appview::ingest::Event> {
    (0..n).map(|i| forum.vote(&format!("did:plc:{tag}voter{i:0>17}"), subject, direction).1).collect()
}

const PAGE: &str = "query($community: String, $sort: Sort, $timeframe: Timeframe, $first: Int!, $after: String) {
  posts(community: $community, sort: $sort, timeframe: $timeframe, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { uri title score upvotes downvotes createdAt
      author { did handle } community { did name } viewerVote { direction uri } } }
  }
}";

/// The titles of one page, and its end cursor when more follow.
async fn page(app: &TestApp, vars: Value) -> (Vec<String>, Option<String>) {
    let body = app.graphql(PAGE, vars).await;
    assert!(body.get("errors").is_none(), "{body}");
    let posts = &body["data"]["posts"];
    let titles = posts["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["title"].as_str().expect("title").to_owned())
        .collect();
    let more = posts["pageInfo"]["hasNextPage"].as_bool().expect("hasNextPage");
    (titles, more.then(|| posts["pageInfo"]["endCursor"].as_str().expect("endCursor").to_owned()))
}

#[tokio::test]
async fn hot_top_and_new_rank_as_the_contract_says() {
    let app = TestApp::start().await;
    let forum = forum(&app).await;
    // (title, age in hours, upvotes, downvotes)
    // Hot lists rank every post of the last 48 hours, and older ones only when their score
    // can still place them: "legend" leads on its score, "ancient" places below "fresh".
    let specs = [
        ("fresh", 1.0, 0, 0),
        ("popular", 5.0, 10, 0),
        ("classic", 30.0, 50, 0),
        ("disliked", 0.5, 0, 2),
        ("legend", 60.0, 1000, 0),
        ("ancient", 200.0, 400, 0),
        ("forgotten", 100.0, 3, 0),
    ];
    let mut events = Vec::new();
    for (title, age, up, down) in specs {
        let (post, event) = forum.post(COMMUNITY, ALICE, title, &ago(age));
        events.push(event);
        events.extend(votes(&forum, &post, up, "up", &format!("{title}u")));
        events.extend(votes(&forum, &post, down, "down", &format!("{title}d")));
    }
    // A post elsewhere stays out of the community's lists.
    events.push(forum.post(OTHER_COMMUNITY, BOB, "elsewhere", &ago(1.1)).1);
    app.ingest(&events).await;

    let list = |sort: &str, timeframe: Option<&str>| json!({"community": COMMUNITY, "sort": sort, "timeframe": timeframe, "first": 10});
    // hot = (score + 1) / (ageHours + 2)^1.5: legend 2.05, popular 0.59, classic 0.28,
    // fresh 0.19, ancient 0.14, forgotten 0.004, disliked −0.25.
    let hot = ["legend", "popular", "classic", "fresh", "ancient", "forgotten", "disliked"];
    assert_eq!(page(&app, list("HOT", None)).await.0, hot);
    // Page by page, older posts come in where their rank places them.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (titles, next) =
            page(&app, json!({"community": COMMUNITY, "sort": "HOT", "first": 2, "after": after})).await;
        paged.extend(titles);
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(paged, hot);
    // top defaults to the last day, which leaves the older posts out.
    assert_eq!(page(&app, list("TOP", None)).await.0, ["popular", "fresh", "disliked"]);
    assert_eq!(
        page(&app, list("TOP", Some("WEEK"))).await.0,
        ["legend", "classic", "popular", "forgotten", "fresh", "disliked"],
        "a week leaves the 200-hour-old post out"
    );
    assert_eq!(page(&app, list("TOP", Some("HOUR"))).await.0, ["disliked"]);
    assert_eq!(
        page(&app, list("NEW", None)).await.0,
        ["disliked", "fresh", "popular", "classic", "legend", "forgotten", "ancient"]
    );
    // Without a community: every readable post.
    let all = page(&app, json!({"sort": "NEW", "first": 3})).await.0;
    assert_eq!(all, ["disliked", "fresh", "elsewhere"]);

    let body = app.graphql(PAGE, list("HOT", None)).await;
    let first = &body["data"]["posts"]["edges"][1]["node"];
    assert_eq!(
        (first["score"].as_i64(), first["upvotes"].as_i64(), first["downvotes"].as_i64()),
        (Some(10), Some(10), Some(0)),
        "popular"
    );
    assert_eq!(first["author"], json!({"did": ALICE, "handle": "alice.test"}));
    assert_eq!(first["community"], json!({"did": COMMUNITY, "name": "gardening"}));
    assert_eq!(body["data"]["posts"]["totalCount"], 7);
    let disliked = &body["data"]["posts"]["edges"][6]["node"];
    assert_eq!((disliked["score"].as_i64(), disliked["downvotes"].as_i64()), (Some(-2), Some(2)));
    assert!(first["createdAt"].as_str().expect("createdAt").ends_with('Z'), "{first}");

    // A cursor only continues its own sort.
    let hot_cursor = body["data"]["posts"]["edges"][0]["cursor"].clone();
    let wrong =
        app.graphql(PAGE, json!({"community": COMMUNITY, "sort": "NEW", "first": 2, "after": hot_cursor})).await;
    assert_eq!(wrong["errors"][0]["extensions"]["code"], "InvalidCursor", "{wrong}");
}

#[tokio::test]
async fn pages_never_repeat_or_skip_while_posts_and_votes_arrive() {
    let app = TestApp::start().await;
    let forum = forum(&app).await;
    let mut events = Vec::new();
    let mut expected = Vec::new();
    for i in 0..23_usize {
        let title = format!("post {i:02}");
        let (post, event) =
            forum.post(COMMUNITY, if i % 2 == 0 { ALICE } else { BOB }, &title, &ago(0.5 + i as f64 * 1.7));
        events.push(event);
        events.extend(votes(&forum, &post, (i * 7) % 5, "up", &format!("p{i}")));
        expected.push(title);
    }
    app.ingest(&events).await;
    expected.sort();

    for sort in ["HOT", "NEW", "TOP"] {
        let mut arrived = Vec::new();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for round in 0.. {
            let (titles, next) = page(
                &app,
                json!({"community": COMMUNITY, "sort": sort, "timeframe": "ALL", "first": 5, "after": after}),
            )
            .await;
            seen.extend(titles);
            // Between pages, newer posts arrive and collect votes.
            let title = format!("newer {sort} {round}");
            let (newer, event) = forum.post(COMMUNITY, ALICE, &title, &ago(0.0));
            arrived.push(title);
            let mut arriving = vec![event];
            arriving.extend(votes(&forum, &newer, 3, "up", &format!("n{sort}{round}")));
            app.ingest(&arriving).await;
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "{sort}: a post was repeated: {seen:?}");
        assert_eq!(sorted, expected, "{sort}: the pages did not hold exactly the first page's posts");
        // The next sort starts after these arrived.
        expected.extend(arrived);
        expected.sort();
    }
}

#[tokio::test]
async fn deleted_posts_and_hidden_authors_or_communities_leave_every_read() {
    let app = TestApp::start().await;
    let forum = forum(&app).await;
    let (kept, e1) = forum.post(COMMUNITY, ALICE, "kept", &ago(1.0));
    let (deleted, e2) = forum.post(COMMUNITY, ALICE, "deleted", &ago(2.0));
    let (by_bob, e3) = forum.post(COMMUNITY, BOB, "by bob", &ago(3.0));
    let (unverified, e4) = forum.post("did:plc:unverified22222222222222", ALICE, "unverified community", &ago(1.0));
    app.ingest(&[e1, e2, e3, e4]).await;
    app.ingest(&[
        forum.delete(COMMUNITY, "social.coves.community.post", &deleted),
        account(BOB, false, Some("takendown"), 5_000_000),
    ])
    .await;

    assert_eq!(page(&app, json!({"sort": "NEW", "first": 10})).await.0, ["kept"]);
    let one = "query($uri: String!) { post(uri: $uri) { title } }";
    assert_eq!(app.graphql(one, json!({"uri": kept.uri})).await["data"]["post"]["title"], "kept");
    for hidden in [&deleted, &by_bob, &unverified] {
        assert_eq!(app.graphql(one, json!({"uri": hidden.uri})).await["data"]["post"], Value::Null, "{hidden:?}");
    }
    let malformed = app.graphql(one, json!({"uri": "https://example.com/post"})).await;
    assert_eq!(malformed["errors"][0]["extensions"]["code"], "InvalidRequest", "{malformed}");
    // Reactivation brings Bob's post back.
    app.ingest(&[account(BOB, true, None, 6_000_000)]).await;
    assert_eq!(page(&app, json!({"sort": "NEW", "first": 10})).await.0, ["kept", "by bob"]);
}

fn viewer(app: &TestApp, handle: &str) -> (TestIdentity, String) {
    let key = TestKey::k256();
    let identity = app.network.add_plc_identity(handle, &key.multikey());
    let token = mint(&key, identity.did.as_str(), AUDIENCE, now() + 600, None);
    (identity, token)
}

#[tokio::test]
async fn the_viewer_vote_is_shown_only_to_its_voter() {
    let app = TestApp::start().await;
    let forum = forum(&app).await;
    let (carol, carol_token) = viewer(&app, "carol.test");
    let (_, dave_token) = viewer(&app, "dave.test");
    let (post, event) = forum.post(COMMUNITY, ALICE, "voted", &ago(1.0));
    let (first_vote, up) = forum.vote(carol.did.as_str(), &post, "up");
    app.ingest(&[event, up]).await;

    let query = "query($uri: String!) { post(uri: $uri) { score viewerVote { direction uri rkey } } }";
    let vars = json!({"uri": post.uri});
    let as_carol = app.graphql_as(&carol_token, query, vars.clone()).await;
    assert_eq!(
        as_carol["data"]["post"],
        json!({"score": 1, "viewerVote": {"direction": "UP", "uri": first_vote.uri, "rkey": first_vote.rkey}}),
        "{as_carol}"
    );
    assert_eq!(
        app.graphql_as(&dave_token, query, vars.clone()).await["data"]["post"],
        json!({"score": 1, "viewerVote": null})
    );
    assert_eq!(app.graphql(query, vars.clone()).await["data"]["post"], json!({"score": 1, "viewerVote": null}));

    // A second vote by the same voter replaces the first: the direction flips, the score
    // moves by two, and the viewer sees the newer record.
    let (second_vote, down) = forum.vote(carol.did.as_str(), &post, "down");
    app.ingest(&[down]).await;
    let flipped = app.graphql_as(&carol_token, query, vars.clone()).await;
    assert_eq!(
        flipped["data"]["post"],
        json!({"score": -1, "viewerVote": {"direction": "DOWN", "uri": second_vote.uri, "rkey": second_vote.rkey}})
    );
    // Deleting it brings the first back.
    app.ingest(&[forum.delete(carol.did.as_str(), "social.coves.feed.vote", &second_vote)]).await;
    let restored = app.graphql_as(&carol_token, query, vars).await;
    assert_eq!(restored["data"]["post"]["viewerVote"]["direction"], "UP");
    assert_eq!(restored["data"]["post"]["score"], 1);
}

#[tokio::test]
async fn a_page_costs_the_same_number_of_queries_whatever_its_size() {
    let app = TestApp::without_background_tasks().await;
    let forum = forum(&app).await;
    let (voter, token) = viewer(&app, "voter.test");
    let mut events = Vec::new();
    for i in 0..60_usize {
        let (post, event) =
            forum.post(COMMUNITY, if i % 3 == 0 { ALICE } else { BOB }, &format!("post {i}"), &ago(i as f64));
        events.push(event);
        if i % 2 == 0 {
            events.push(forum.vote(voter.did.as_str(), &post, "up").1);
        }
    }
    app.ingest(&events).await;
    // Warm the viewer's identity (its DID document is fetched and stored once).
    app.graphql_as(&token, PAGE, json!({"first": 1})).await;

    let mut costs = Vec::new();
    for first in [5, 50] {
        let before = app.queries.get();
        let body = app.graphql_as(&token, PAGE, json!({"community": COMMUNITY, "sort": "HOT", "first": first})).await;
        costs.push(app.queries.get() - before);
        let edges = body["data"]["posts"]["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), first, "{body}");
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["author"]["handle"].is_string() && e["node"]["community"]["name"] == "gardening")
        );
        assert!(edges.iter().any(|e| e["node"]["viewerVote"]["direction"] == "UP"), "{body}");
    }
    // The community's DID, the page, its total, then one query each for authors,
    // communities, vote counts and viewer votes.
    assert_eq!(costs, [7, 7], "queries per page of 5 and of 50");

    // A page loads ahead only what it selects: the community's DID and the page, then one
    // query for the vote counts of `nodes { score }` (under `nodes` as under `edges`).
    for (selection, expected) in [("title", 2), ("title score", 3)] {
        let query = format!("query($c: String!) {{ posts(community: $c, first: 50) {{ nodes {{ {selection} }} }} }}");
        let before = app.queries.get();
        let body = app.graphql(&query, json!({"c": COMMUNITY})).await;
        assert_eq!(body["data"]["posts"]["nodes"].as_array().map(Vec::len), Some(50), "{body}");
        assert_eq!(app.queries.get() - before, expected, "queries for `{selection}`");
    }
}

#[tokio::test]
async fn record_lists_are_served_by_a_pool_of_one_connection() {
    // A list resolver gives its connection back before its records' loads start (each
    // loader takes a connection of its own); holding it would stall every such page until
    // the pool's 5 s timeout.
    let app = TestApp::with_pool_size(1).await;
    let forum = forum(&app).await;
    let mut events = Vec::new();
    for i in 0..3_usize {
        let (post, event) = forum.post(COMMUNITY, ALICE, &format!("post {i}"), &ago(i as f64));
        events.push(event);
        events.push(forum.vote(BOB, &post, "up").1);
        events.push(forum.comment(BOB, &post, &post, &format!("comment {i}"), &ago(i as f64)).1);
    }
    app.ingest(&events).await;
    let lists = [
        "{ posts(first: 5) { nodes { score commentCount author { handle } community { name } } } }",
        "{ feed(kind: DISCOVER, first: 5) { nodes { score author { handle } } } }",
        "{ posts(first: 5) { nodes { comments(first: 5) { nodes { score author { handle } } } } } }",
    ];
    for query in lists {
        let answer = tokio::time::timeout(std::time::Duration::from_secs(3), app.graphql(query, json!({})))
            .await
            .unwrap_or_else(|_| panic!("no answer within 3 s (the pool timeout is 5 s): {query}"));
        assert!(answer.get("errors").is_none(), "{answer}");
        let authors = answer["data"].to_string().matches("\"handle\"").count();
        assert_eq!(authors, 3, "three records, each with its author: {answer}");
    }
}
