//! The post feeds over XRPC and GraphQL, from records replayed through ingest: the
//! timeline follows subscriptions weighted by contentVisibility, blocks hide communities
//! from the timeline and discover for the blocker only, pages neither repeat nor skip,
//! and the community views carry the viewer's subscription and block.

use chrono::{Duration as Age, Utc};
use coves_plugin_feed::score_levels::refresh_score_levels;
use coves_tests::TestApp;
use coves_tests::auth::{TestKey, mint, now};
use coves_tests::forum::{Forum, Ref, known_actor, readable_community};
use coves_tests::network::TestIdentity;
use serde_json::{Value, json};

const GARDENING: &str = "did:plc:gardening2222222222222222";
const COOKING: &str = "did:plc:cooking22222222222222222";
const HIKING: &str = "did:plc:hiking222222222222222222";
const ALICE: &str = "did:plc:alice2222222222222222222";
const AUDIENCE: &str = "did:web:appview.test";
const SUBSCRIPTION: &str = "social.coves.community.subscription";
const BLOCK: &str = "social.coves.community.block";

/// RFC 3339 for `minutes` ago.
fn ago(minutes: i64) -> String {
    (Utc::now() - Age::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn forum(app: &TestApp) -> Forum {
    readable_community(app, GARDENING, "gardening").await;
    readable_community(app, COOKING, "cooking").await;
    readable_community(app, HIKING, "hiking").await;
    known_actor(app, ALICE, "alice.test").await;
    Forum::new()
}

fn viewer(app: &TestApp, handle: &str) -> (TestIdentity, String) {
    let key = TestKey::k256();
    let identity = app.network.add_plc_identity(handle, &key.multikey());
    let token = mint(&key, identity.did.as_str(), AUDIENCE, now() + 600, None);
    (identity, token)
}

/// A post in `community` scored `score` by as many distinct upvoters.
fn scored_post(
    forum: &Forum,
    community: &str,
    title: &str,
    minutes_ago: i64,
    score: usize,
) -> Vec<coves_appview::ingest::Event> {
    let (post, event) = forum.post(community, ALICE, title, &ago(minutes_ago));
    let mut events = vec![event];
    for i in 0..score {
        events.push(forum.vote(&format!("did:plc:score{title}v{i:0>4}"), &post, "up").1);
    }
    events
}

/// The post titles of an XRPC feed answer, and its cursor.
fn titles(body: &Value) -> (Vec<String>, Option<String>) {
    let feed = body["feed"].as_array().unwrap_or_else(|| panic!("feed array: {body}"));
    let titles = feed.iter().map(|f| f["post"]["record"]["title"].as_str().expect("title").to_owned()).collect();
    (titles, body["cursor"].as_str().map(str::to_owned))
}

async fn xrpc_feed(app: &TestApp, token: Option<&str>, path: &str) -> (Vec<String>, Option<String>) {
    let response = match token {
        Some(token) => app.get_as(token, path).await,
        None => app.get(path).await,
    };
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    titles(&response.body)
}

async fn refresh_levels(app: &TestApp) {
    let mut conn = app.pool.get().await.expect("connection");
    refresh_score_levels(&mut conn).await.expect("score levels refreshed");
}

fn sorted(mut titles: Vec<String>) -> Vec<String> {
    titles.sort();
    titles
}

#[tokio::test]
async fn the_timeline_follows_subscriptions_weighted_by_visibility() {
    let app = TestApp::start().await;
    let forum = forum(&app).await;
    let (carol, token) = viewer(&app, "carol.test");
    let carol = carol.did.as_str();
    let mut events = Vec::new();
    // Gardening: ten posts scored 0..9. Cooking: two posts. Hiking: not subscribed.
    for score in 0..10 {
        events.extend(scored_post(&forum, GARDENING, &format!("g{score}"), 30 + score as i64, score));
    }
    events.extend(scored_post(&forum, COOKING, "c0", 5, 0));
    events.extend(scored_post(&forum, COOKING, "c1", 6, 1));
    events.extend(scored_post(&forum, HIKING, "h0", 1, 3));
    let (gardening_sub, event) = forum.subscribe(carol, GARDENING, Some(json!(1)));
    events.push(event);
    let (cooking_sub, event) = forum.subscribe(carol, COOKING, None);
    events.push(event);
    app.ingest(&events).await;
    refresh_levels(&app).await;

    let timeline = "/xrpc/social.coves.feed.getTimeline?sort=new&limit=50";
    // Level 1 shows gardening's best 10 % (one post of ten); cooking's default level 3
    // shows its best half (one post of two).
    assert_eq!(xrpc_feed(&app, Some(&token), timeline).await.0, ["c1", "g9"]);

    // The newest live subscription record sets the level: each level shows ⌈share × 10⌉
    // posts (ties with the last one included), level 5 all of them.
    let mut newest = gardening_sub.clone();
    for (level, shown) in [(2, 3), (3, 5), (4, 8), (5, 10)] {
        let (sub, event) = forum.subscribe(carol, GARDENING, Some(json!(level)));
        app.ingest(&[event]).await;
        let (titles, _) = xrpc_feed(&app, Some(&token), timeline).await;
        let gardening: Vec<&String> = titles.iter().filter(|t| t.starts_with('g')).collect();
        assert_eq!(gardening.len(), shown, "level {level}: {titles:?}");
        newest = sub;
    }
    // Deleting the newest record hands over to the previous one (level 4).
    app.ingest(&[forum.delete(carol, SUBSCRIPTION, &newest)]).await;
    let (titles, _) = xrpc_feed(&app, Some(&token), timeline).await;
    assert_eq!(titles.iter().filter(|t| t.starts_with('g')).count(), 8, "{titles:?}");

    // Unsubscribing from cooking removes it; hiking never shows.
    app.ingest(&[forum.delete(carol, SUBSCRIPTION, &cooking_sub)]).await;
    let (titles, _) = xrpc_feed(&app, Some(&token), timeline).await;
    assert!(titles.iter().all(|t| t.starts_with('g')), "{titles:?}");

    // Another viewer without subscriptions gets an empty feed; no token is a 401.
    let (_, dave_token) = viewer(&app, "dave.test");
    let empty = app.get_as(&dave_token, timeline).await;
    assert_eq!((empty.status, empty.body.clone()), (200, json!({"feed": []})));
    let anonymous = app.get(timeline).await;
    assert_eq!((anonymous.status, anonymous.body["error"].as_str()), (401, Some("AuthenticationRequired")));

    // GraphQL serves the same feed.
    let query =
        "query($sort: Sort) { feed(kind: TIMELINE, sort: $sort, first: 50) { totalCount edges { node { title } } } }";
    let body = app.graphql_as(&token, query, json!({"sort": "NEW"})).await;
    let graphql: Vec<&str> = body["data"]["feed"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["title"].as_str().expect("title"))
        .collect();
    assert_eq!(graphql.len(), 8, "{body}");
    assert_eq!(body["data"]["feed"]["totalCount"], 8);
    let refused = app.graphql(query, json!({})).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "AuthenticationRequired", "{refused}");
}

#[tokio::test]
async fn a_block_hides_a_community_from_its_blocker_only_until_unblocked() {
    let app = TestApp::start().await;
    let forum = forum(&app).await;
    let (carol, carol_token) = viewer(&app, "carol.test");
    let (dave, dave_token) = viewer(&app, "dave.test");
    let (carol, dave) = (carol.did.as_str().to_owned(), dave.did.as_str().to_owned());
    let mut events = Vec::new();
    events.extend(scored_post(&forum, GARDENING, "tomatoes", 3, 0));
    events.extend(scored_post(&forum, COOKING, "soup", 2, 0));
    events.extend(scored_post(&forum, HIKING, "alps", 1, 0));
    for who in [&carol, &dave] {
        events.push(forum.subscribe(who, GARDENING, Some(json!(5))).1);
        events.push(forum.subscribe(who, COOKING, Some(json!(5))).1);
    }
    let (block, event) = forum.block(&carol, COOKING);
    events.push(event);
    app.ingest(&events).await;

    let timeline = "/xrpc/social.coves.feed.getTimeline?sort=new";
    let discover = "/xrpc/social.coves.feed.getDiscover?sort=new";
    assert_eq!(xrpc_feed(&app, Some(&carol_token), timeline).await.0, ["tomatoes"]);
    assert_eq!(xrpc_feed(&app, Some(&dave_token), timeline).await.0, ["soup", "tomatoes"]);
    assert_eq!(xrpc_feed(&app, Some(&carol_token), discover).await.0, ["alps", "tomatoes"]);
    assert_eq!(xrpc_feed(&app, Some(&dave_token), discover).await.0, ["alps", "soup", "tomatoes"]);
    assert_eq!(xrpc_feed(&app, None, discover).await.0, ["alps", "soup", "tomatoes"]);
    // getAll is the same feed; the community feed still shows a blocked community.
    assert_eq!(
        xrpc_feed(&app, Some(&carol_token), "/xrpc/social.coves.feed.getAll?sort=new").await.0,
        ["alps", "tomatoes"]
    );
    let community = format!("/xrpc/social.coves.communityFeed.getCommunity?community={COOKING}");
    assert_eq!(xrpc_feed(&app, Some(&carol_token), &community).await.0, ["soup"]);
    let lexicon_name = "/xrpc/social.coves.feed.getCommunity?community=c-cooking.coves.test";
    assert_eq!(xrpc_feed(&app, Some(&carol_token), lexicon_name).await.0, ["soup"]);

    // The community views say so, to the blocker only.
    let get = format!("/xrpc/social.coves.community.get?community={COOKING}");
    let as_carol = app.get_as(&carol_token, &get).await.body;
    assert_eq!(as_carol["viewer"]["blocked"], true, "{as_carol}");
    assert_eq!(as_carol["viewer"]["blockUri"], block.uri);
    assert_eq!(as_carol["viewer"]["subscribed"], true);
    assert_eq!(app.get_as(&dave_token, &get).await.body["viewer"]["blocked"], false);
    assert!(app.get(&get).await.body.get("viewer").is_none(), "anonymous: no viewer");

    // Unblocking brings it back.
    app.ingest(&[forum.delete(&carol, BLOCK, &block)]).await;
    assert_eq!(xrpc_feed(&app, Some(&carol_token), timeline).await.0, ["soup", "tomatoes"]);
    assert_eq!(xrpc_feed(&app, Some(&carol_token), discover).await.0, ["alps", "soup", "tomatoes"]);
    let after = app.get_as(&carol_token, &get).await.body;
    assert_eq!(after["viewer"]["blocked"], false);
    assert!(after["viewer"].get("blockUri").is_none(), "{after}");

    // Discover holds public communities only.
    let mut conn = app.pool.get().await.expect("connection");
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE communities SET visibility = 'unlisted' WHERE did = $1")
            .bind::<diesel::sql_types::Text, _>(HIKING),
        &mut conn,
    )
    .await
    .expect("unlisted");
    assert_eq!(xrpc_feed(&app, None, discover).await.0, ["soup", "tomatoes"]);
    let graphql = app.graphql("{ feed(kind: DISCOVER, sort: NEW) { edges { node { title } } } }", json!({})).await;
    assert_eq!(graphql["data"]["feed"]["edges"].as_array().map(Vec::len), Some(2), "{graphql}");
}

#[tokio::test]
async fn feeds_page_without_repeats_or_gaps_while_posts_and_votes_arrive() {
    let app = TestApp::start().await;
    let forum = forum(&app).await;
    let (carol, token) = viewer(&app, "carol.test");
    let carol = carol.did.as_str();
    let mut events =
        vec![forum.subscribe(carol, GARDENING, Some(json!(5))).1, forum.subscribe(carol, COOKING, Some(json!(5))).1];
    let mut posts: Vec<Ref> = Vec::new();
    for i in 0..12_i64 {
        let community = if i % 2 == 0 { GARDENING } else { COOKING };
        let (post, event) = forum.post(community, ALICE, &format!("p{i}"), &ago(i * 97));
        events.push(event);
        for v in 0..(i % 5) {
            events.push(forum.vote(&format!("did:plc:pager{i:0>2}{v:0>16}"), &post, "up").1);
        }
        posts.push(post);
    }
    app.ingest(&events).await;

    for sort in ["hot", "new", "top&timeframe=all"] {
        for feed in ["getTimeline", "getDiscover"] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut round = 0;
            loop {
                let path = format!(
                    "/xrpc/social.coves.feed.{feed}?sort={sort}&limit=5{}",
                    cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default()
                );
                let (titles, next) = xrpc_feed(&app, Some(&token), &path).await;
                seen.extend(titles);
                // Between pages: a new post, and votes that reorder what is left.
                round += 1;
                let (_, fresh) = forum.post(GARDENING, ALICE, &format!("late {sort} {feed} {round}"), &ago(0));
                let votes = posts.iter().map(|p| forum.vote(&format!("did:plc:late{round:0>20}"), p, "up").1);
                app.ingest(&std::iter::once(fresh).chain(votes).collect::<Vec<_>>()).await;
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            // Posts of earlier rounds are listed like any other, each once; this round's
            // arrived after its first page and stay out.
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), seen.len(), "{feed} {sort}: no repeats: {seen:?}");
            let originals: Vec<String> = seen.iter().filter(|t| t.starts_with('p')).cloned().collect();
            let expected: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
            assert_eq!(sorted(originals), sorted(expected), "{feed} {sort}: no gaps: {seen:?}");
            let own = format!("late {sort} {feed} ");
            assert!(!seen.iter().any(|t| t.starts_with(&own)), "{feed} {sort}: later posts stay out: {seen:?}");
        }
    }
}

#[tokio::test]
async fn feed_requests_are_checked() {
    let app = TestApp::start().await;
    let _forum = forum(&app).await;
    let (_, token) = viewer(&app, "carol.test");
    let error = |status: u16, name: &str, path: &str| {
        let (status, name, path) = (status, name.to_owned(), path.to_owned());
        let app = &app;
        let token = token.clone();
        async move {
            let response = app.get_as(&token, &path).await;
            assert_eq!(
                (response.status, response.body["error"].as_str()),
                (status, Some(name.as_str())),
                "{path}: {}",
                response.body
            );
            response.body["message"].as_str().unwrap_or_default().to_owned()
        }
    };
    let message = error(400, "InvalidRequest", "/xrpc/social.coves.feed.getDiscover?limit=51").await;
    assert!(message.contains("must not exceed 50"), "{message}");
    error(400, "InvalidRequest", "/xrpc/social.coves.feed.getTimeline?sort=best").await;
    error(400, "InvalidRequest", "/xrpc/social.coves.feed.getDiscover?sort=top&timeframe=decade").await;
    error(400, "InvalidCursor", "/xrpc/social.coves.feed.getDiscover?cursor=garbage").await;
    error(400, "InvalidRequest", "/xrpc/social.coves.communityFeed.getCommunity").await;
    error(400, "InvalidRequest", "/xrpc/social.coves.communityFeed.getCommunity?community=not%20an%20identifier").await;
    error(404, "CommunityNotFound", "/xrpc/social.coves.feed.getCommunity?community=did:plc:unknown22222222222222222")
        .await;
    // Lenient limits, as the Go AppView: not an integer or ≤ 0 means the default.
    assert_eq!(app.get_as(&token, "/xrpc/social.coves.feed.getDiscover?limit=zero").await.status, 200);
    assert_eq!(app.get_as(&token, "/xrpc/social.coves.feed.getDiscover?limit=-1").await.status, 200);
    let graphql = app.graphql("{ feed(kind: COMMUNITY) { edges { cursor } } }", json!({})).await;
    assert_eq!(graphql["errors"][0]["extensions"]["code"], "InvalidRequest", "{graphql}");
}

#[tokio::test]
async fn community_views_carry_the_viewer_subscription() {
    let app = TestApp::start().await;
    let forum = forum(&app).await;
    let (carol, token) = viewer(&app, "carol.test");
    let carol = carol.did.as_str();
    let (subscription, event) = forum.subscribe(carol, GARDENING, Some(json!(2)));
    let mut events = vec![event];
    events.extend(scored_post(&forum, GARDENING, "seeds", 1, 0));
    events.extend(scored_post(&forum, COOKING, "bread", 2, 0));
    app.ingest(&events).await;

    let list = app.get_as(&token, "/xrpc/social.coves.community.list?sort=alphabetical").await.body;
    let states: Vec<(&str, &Value)> = list["communities"]
        .as_array()
        .expect("communities")
        .iter()
        .map(|c| (c["name"].as_str().expect("name"), &c["viewer"]))
        .collect();
    assert_eq!(
        states,
        [
            ("cooking", &json!({"subscribed": false, "blocked": false})),
            (
                "gardening",
                &json!({"subscribed": true, "subscriptionUri": subscription.uri, "contentVisibility": 2, "blocked": false})
            ),
            ("hiking", &json!({"subscribed": false, "blocked": false})),
        ]
    );
    assert_eq!(list["communities"][1]["subscriberCount"], 1);
    let subscribed = app.get_as(&token, "/xrpc/social.coves.community.list?subscribed=true").await.body;
    let names: Vec<&str> = subscribed["communities"]
        .as_array()
        .expect("communities")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["gardening"]);
    assert_eq!(app.get("/xrpc/social.coves.community.list?subscribed=true").await.status, 401);
    let search = app.get_as(&token, "/xrpc/social.coves.community.search?q=garden").await.body;
    assert_eq!(search["communities"][0]["viewer"]["subscribed"], true, "{search}");

    // PostViews say whether the viewer subscribes to the post's community.
    let feed = app.get_as(&token, "/xrpc/social.coves.feed.getDiscover?sort=new").await.body;
    let communities: Vec<(&str, &Value)> = feed["feed"]
        .as_array()
        .expect("feed")
        .iter()
        .map(|f| (f["post"]["record"]["title"].as_str().expect("title"), &f["post"]["community"]["viewer"]))
        .collect();
    assert_eq!(communities, [("seeds", &json!({"subscribed": true})), ("bread", &json!({"subscribed": false}))]);
    let anonymous = app.get("/xrpc/social.coves.feed.getDiscover?sort=new").await.body;
    assert!(anonymous["feed"][0]["post"]["community"].get("viewer").is_none(), "{anonymous}");
}
