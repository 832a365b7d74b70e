//! The community plugin end to end: profiles ingested, verified by the background task
//! against the fake network (the community's DID and handle, the instance's did.json),
//! and read through GraphQL and XRPC.

use std::time::Duration;

use coves_tests::events::{account, create, delete, identity, update};
use coves_tests::network::{TEST_PDS, TestIdentity, random_signing_key};
use coves_tests::{TestApp, encode};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

const PROFILE: &str = "social.coves.community.profile";
/// The TestApp's instance domain, and the did:web of the instance hosting communities.
const DOMAIN: &str = "coves.test";
const HOSTED_BY: &str = "did:web:coves.test";
const CREATOR: &str = "did:plc:creator222222222222222222";

fn record(name: &str, hosted_by: &str) -> Value {
    json!({
        "$type": PROFILE,
        "name": name,
        "displayName": format!("All about {name}"),
        "description": format!("A community for {name} fans."),
        "avatar": {"$type": "blob", "ref": {"$link": format!("bafkrei{name}avatar")}, "mimeType": "image/png", "size": 1000},
        "createdBy": CREATOR,
        "hostedBy": hosted_by,
        "categories": ["ignored"],
        "createdAt": "2026-01-02T03:04:05.678+01:00",
    })
}

/// The instance's did.json: `did:web:coves.test` claiming `at://coves.test`.
fn serve_instance(app: &TestApp) {
    app.network.add_web_identity(DOMAIN, &random_signing_key());
}

/// A community identity on the fake network: a did:plc claiming `c-{name}.coves.test`.
fn community_identity(app: &TestApp, name: &str) -> TestIdentity {
    app.network.add_plc_identity(&format!("c-{name}.{DOMAIN}"), &random_signing_key())
}

/// A hosted, verifiable community whose profile has been ingested (not yet verified).
async fn add_community(app: &TestApp, name: &str, rev: &str) -> TestIdentity {
    let community = community_identity(app, name);
    let outcome =
        app.ingest(&[create(community.did.as_str(), PROFILE, "self", rev, 1_000, record(name, HOSTED_BY))]).await;
    assert_eq!((outcome.applied, outcome.skipped.len()), (1, 0), "{outcome:?}");
    community
}

/// The stored verification state of a community.
#[derive(Debug, diesel::QueryableByName)]
struct State {
    #[diesel(sql_type = Nullable<Text>)]
    handle: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    rejected_reason: Option<String>,
    /// Seconds until the next check; NULL when none is due.
    #[diesel(sql_type = Nullable<BigInt>)]
    due_in: Option<i64>,
}

async fn stored_state(app: &TestApp, did: &str) -> State {
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query(
        "SELECT handle, rejected_reason, extract(epoch FROM verify_after - now())::bigint AS due_in \
         FROM communities WHERE did = $1",
    )
    .bind::<Text, _>(did)
    .get_result(&mut conn)
    .await
    .expect("community row")
}

/// Waits until the background task has settled `did`: verified (nothing due) or rejected
/// (a retry scheduled in the future).
async fn settled(app: &TestApp, did: &str) -> State {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state = stored_state(app, did).await;
        let verified = state.handle.is_some() && state.due_in.is_none();
        // A retry is due in 5 minutes (definite failure) or 30 seconds (network failure);
        // a check in progress holds a 2-minute lease, which is not a verdict yet.
        let retry = state.due_in.is_some_and(|s| s > 150 || (5..=31).contains(&s));
        let rejected = state.rejected_reason.is_some() && retry;
        if verified || rejected {
            return state;
        }
        assert!(tokio::time::Instant::now() < deadline, "verification of {did} did not settle: {state:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn verified(app: &TestApp, did: &str) -> String {
    let state = settled(app, did).await;
    state.handle.unwrap_or_else(|| panic!("{did} was rejected: {:?}", state.rejected_reason))
}

async fn set_counts(app: &TestApp, did: &str, subscribers: i64, posts: i64) {
    let mut conn = app.pool.get().await.expect("connection");
    // The subscription and post plugins maintain these; they do not exist yet.
    diesel::sql_query("UPDATE communities SET subscriber_count = $2, post_count = $3 WHERE did = $1")
        .bind::<Text, _>(did)
        .bind::<BigInt, _>(subscribers)
        .bind::<BigInt, _>(posts)
        .execute(&mut conn)
        .await
        .expect("set counts");
}

async fn graphql_community(app: &TestApp, id: &str) -> Value {
    app.graphql("query($id: String!) { community(id: $id) { did handle displayHandle name } }", json!({"id": id})).await
}

#[tokio::test]
async fn every_identifier_form_names_the_same_community() {
    let app = TestApp::start().await;
    serve_instance(&app);
    let gaming = add_community(&app, "gaming", "3la0000000001").await;
    assert_eq!(verified(&app, gaming.did.as_str()).await, "c-gaming.coves.test");
    let did = gaming.did.as_str();

    let detailed = json!({
        "did": did,
        "handle": "c-gaming.coves.test",
        "displayHandle": "!gaming@coves.test",
        "name": "gaming",
        "displayName": "All about gaming",
        "description": "A community for gaming fans.",
        "avatar": format!("{TEST_PDS}/xrpc/com.atproto.sync.getBlob?did={}&cid=bafkreigamingavatar", encode(did)),
        "createdBy": CREATOR,
        "hostedBy": HOSTED_BY,
        "visibility": "public",
        "moderationType": "moderator",
        "allowExternalDiscovery": true,
        "subscriberCount": 0,
        "memberCount": 0,
        "postCount": 0,
        "createdAt": "2026-01-02T02:04:05.678Z",
    });
    for id in [
        did,
        "c-gaming.coves.test",
        "C-Gaming.Coves.Test",
        "@c-gaming.coves.test",
        "!gaming@coves.test",
        "!Gaming@COVES.test",
    ] {
        let response = app.get(&format!("/xrpc/social.coves.community.get?community={}", encode(id))).await;
        assert_eq!((response.status, &response.body), (200, &detailed), "{id}");
        let graphql = graphql_community(&app, id).await;
        assert_eq!(
            graphql,
            json!({"data": {"community": {"did": did, "handle": "c-gaming.coves.test", "displayHandle": "!gaming@coves.test", "name": "gaming"}}}),
            "{id}"
        );
    }

    let full = app
        .graphql(
            "query($id: String!) { community(id: $id) { displayName description descriptionFacets avatar avatarSmall \
             banner createdBy hostedBy visibility moderationType contentWarnings allowExternalDiscovery \
             subscriberCount memberCount postCount createdAt } }",
            json!({"id": did}),
        )
        .await;
    let community = &full["data"]["community"];
    assert_eq!(community["avatar"], detailed["avatar"], "{full}");
    assert_eq!(community["banner"], Value::Null);
    assert_eq!(community["descriptionFacets"], Value::Null);
    assert_eq!(community["contentWarnings"], json!([]));
    assert_eq!(community["createdAt"], "2026-01-02T02:04:05.678Z");
}

#[tokio::test]
async fn unknown_and_malformed_identifiers_get_clear_errors() {
    let app = TestApp::start().await;
    let get = |id: &str| format!("/xrpc/social.coves.community.get?community={}", encode(id));

    for unknown in
        ["did:plc:nobody222222222222222222", "c-nobody.coves.test", "@c-nobody.coves.test", "!nobody@coves.test"]
    {
        let response = app.get(&get(unknown)).await;
        assert_eq!((response.status, response.body["error"].as_str()), (404, Some("NotFound")), "{unknown}");
        assert!(response.body["message"].as_str().is_some_and(|m| m.contains(unknown)), "{}", response.body);
        assert_eq!(graphql_community(&app, unknown).await, json!({"data": {"community": null}}), "{unknown}");
    }

    for (malformed, says) in [
        (
            "gaming",
            "must be a DID, a handle (c-name.instance or @c-name.instance), or a scoped identifier (!name@instance)",
        ),
        ("!gaming", "scoped identifier must include @ symbol (!name@instance)"),
        ("!@coves.test", "community name cannot be empty"),
        ("!gaming@elsewhere.example", "not hosted on this instance"),
        ("did:", "not a valid DID"),
    ] {
        let response = app.get(&get(malformed)).await;
        assert_eq!((response.status, response.body["error"].as_str()), (400, Some("InvalidRequest")), "{malformed}");
        let message = response.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{malformed}: {message}");
        let graphql = graphql_community(&app, malformed).await;
        assert_eq!(graphql["errors"][0]["extensions"]["code"], "InvalidRequest", "{malformed}: {graphql}");
    }

    let missing = app.get("/xrpc/social.coves.community.get").await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "InvalidRequest", "message": "community parameter is required"}))
    );
}

#[tokio::test]
async fn hosted_by_is_verified_against_the_handle_and_the_instance_did_json() {
    let app = TestApp::start().await;
    // The instance's did.json lists no at://coves.test.
    app.network.put_did_web_document(DOMAIN, &json!({"id": HOSTED_BY, "alsoKnownAs": ["at://someone.else.test"]}));
    // Another instance, whose did.json is fine, but not the community's domain.
    app.network.add_web_identity("other.test", &random_signing_key());

    let unclaimed = add_community(&app, "unclaimed", "3la0000000001").await;
    let elsewhere = community_identity(&app, "elsewhere");
    app.ingest(&[create(
        elsewhere.did.as_str(),
        PROFILE,
        "self",
        "3la0000000001",
        2_000,
        record("elsewhere", "did:web:other.test"),
    )])
    .await;

    let state = settled(&app, unclaimed.did.as_str()).await;
    assert_eq!(state.handle, None);
    assert!(state.rejected_reason.as_deref().is_some_and(|r| r.contains("does not list at://coves.test")), "{state:?}");
    let state = settled(&app, elsewhere.did.as_str()).await;
    assert_eq!(state.handle, None);
    assert!(
        state.rejected_reason.as_deref().is_some_and(|r| r.contains("not under the hostedBy domain other.test")),
        "{state:?}"
    );
    for community in [&unclaimed, &elsewhere] {
        let response = app.get(&format!("/xrpc/social.coves.community.get?community={}", community.did)).await;
        assert_eq!(response.status, 404, "a rejected community is not readable");
    }
    let list = app.get("/xrpc/social.coves.community.list").await;
    assert_eq!(list.body, json!({"communities": []}));
}

#[tokio::test]
async fn skipping_did_web_verification_accepts_an_unclaimed_instance_and_a_foreign_domain() {
    let app = TestApp::with_instance(|instance| instance.skip_did_web_verification = true).await;
    // No did.json at all for coves.test.
    let unclaimed = add_community(&app, "unclaimed", "3la0000000001").await;
    let elsewhere = community_identity(&app, "elsewhere");
    app.ingest(&[create(
        elsewhere.did.as_str(),
        PROFILE,
        "self",
        "3la0000000001",
        2_000,
        record("elsewhere", "did:web:other.test"),
    )])
    .await;

    assert_eq!(verified(&app, unclaimed.did.as_str()).await, "c-unclaimed.coves.test");
    assert_eq!(app.network.https_requests(DOMAIN, "/.well-known/did.json"), 0, "did.json is not fetched");
    // The whole hostedBy check is bypassed (development only); the handle still comes
    // from identity resolution, verified both ways.
    assert_eq!(verified(&app, elsewhere.did.as_str()).await, "c-elsewhere.coves.test");
}

#[tokio::test]
async fn a_community_without_a_verifiable_handle_waits_for_its_identity() {
    let app = TestApp::start().await;
    serve_instance(&app);
    let gaming = community_identity(&app, "gaming");
    app.network.remove_plc_document(&gaming.did);
    app.ingest(&[create(gaming.did.as_str(), PROFILE, "self", "3la0000000001", 1_000, record("gaming", HOSTED_BY))])
        .await;
    let state = settled(&app, gaming.did.as_str()).await;
    assert!(state.rejected_reason.is_some_and(|r| r.contains("handle could not be verified")));
    assert_eq!(app.get(&format!("/xrpc/social.coves.community.get?community={}", gaming.did)).await.status, 404);

    // The identity appears, and Jetstream says so.
    app.network.put_plc_document(&gaming.did, &gaming.document);
    app.ingest(&[identity(gaming.did.as_str(), Some("c-gaming.coves.test"), 2_000)]).await;
    assert_eq!(verified(&app, gaming.did.as_str()).await, "c-gaming.coves.test");

    // A handle change follows identity events; the old handle no longer resolves.
    app.network.change_handle(&gaming, "c-games.coves.test");
    app.ingest(&[identity(gaming.did.as_str(), Some("c-games.coves.test"), 3_000)]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stored_state(&app, gaming.did.as_str()).await.handle.as_deref() != Some("c-games.coves.test") {
        assert!(tokio::time::Instant::now() < deadline, "the new handle was not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = app.get("/xrpc/social.coves.community.get?community=!games@coves.test").await;
    assert_eq!((response.status, &response.body["displayHandle"]), (200, &json!("!games@coves.test")));
    assert_eq!(app.get("/xrpc/social.coves.community.get?community=c-gaming.coves.test").await.status, 404);
}

#[tokio::test]
async fn updates_replace_the_state_deletes_hide_and_replays_are_harmless() {
    let app = TestApp::start().await;
    serve_instance(&app);
    let gaming = add_community(&app, "gaming", "3la0000000001").await;
    let did = gaming.did.as_str();
    verified(&app, did).await;
    let get = format!("/xrpc/social.coves.community.get?community={did}");

    let first = create(did, PROFILE, "self", "3la0000000001", 1_000, record("gaming", HOSTED_BY));
    let mut changed = json!({"$type": PROFILE, "name": "gaming", "displayName": "Gaming 2", "createdBy": CREATOR,
        "hostedBy": HOSTED_BY, "visibility": "private", "contentWarnings": ["violence"],
        "federation": {"allowExternalDiscovery": false}, "createdAt": "2026-01-02T03:04:05Z"});
    let second = update(did, PROFILE, "self", "3la0000000002", 2_000, changed.clone());
    app.ingest(std::slice::from_ref(&second)).await;
    let view = app.get(&get).await.body;
    assert_eq!(view["displayName"], "Gaming 2", "the community stays readable while it is checked again");
    assert!(view.get("avatar").is_none() && view.get("description").is_none(), "the record replaces the state: {view}");
    assert_eq!((view["visibility"].as_str(), &view["contentWarnings"]), (Some("private"), &json!(["violence"])));
    assert_eq!(view["allowExternalDiscovery"], false);

    // Replays (the whole stream, then the old create alone) change nothing.
    app.ingest(&[first.clone(), second]).await;
    app.ingest(std::slice::from_ref(&first)).await;
    assert_eq!(app.get(&get).await.body["displayName"], "Gaming 2");

    // A new hostedBy hides the community until it is verified again.
    changed["hostedBy"] = json!("did:web:nintendo.test");
    app.network.add_web_identity("nintendo.test", &random_signing_key());
    app.ingest(&[update(did, PROFILE, "self", "3la0000000003", 3_000, changed)]).await;
    assert_eq!(app.get(&get).await.status, 404, "an unverified hostedBy is never served");
    let state = settled(&app, did).await;
    assert!(state.rejected_reason.is_some_and(|r| r.contains("not under the hostedBy domain nintendo.test")));

    // Back to the right host, then deleted; a replayed create does not revive it.
    app.ingest(&[update(did, PROFILE, "self", "3la0000000004", 4_000, record("gaming", HOSTED_BY))]).await;
    verified(&app, did).await;
    assert_eq!(app.get(&get).await.status, 200);
    app.ingest(&[delete(did, PROFILE, "self", "3la0000000005", 5_000)]).await;
    let gone = app.get(&get).await;
    assert_eq!((gone.status, gone.body["error"].as_str()), (404, Some("NotFound")));
    app.ingest(&[first]).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(app.get(&get).await.status, 404, "a replayed create cannot revive a deleted community");
    assert_eq!(graphql_community(&app, did).await, json!({"data": {"community": null}}));

    // A newer profile brings it back, once verified.
    app.ingest(&[create(did, PROFILE, "self", "3la0000000006", 6_000, record("gaming", HOSTED_BY))]).await;
    verified(&app, did).await;
    assert_eq!(app.get(&get).await.body["displayName"], "All about gaming");
}

#[tokio::test]
async fn bad_records_are_skipped_with_a_reason() {
    let app = TestApp::start().await;
    let did = "did:plc:community22222222222222222";
    let mut no_name = record("x", HOSTED_BY);
    no_name.as_object_mut().expect("object").remove("name");
    let outcome = app
        .ingest(&[
            create(did, PROFILE, "other", "3la0000000001", 1, record("gaming", HOSTED_BY)),
            create(did, PROFILE, "self", "3la0000000002", 2, record("gaming", "did:plc:ewvi7nxzyoun6zhxrhs64oiz")),
            create(did, PROFILE, "self", "3la0000000003", 3, no_name),
        ])
        .await;
    let reasons: Vec<_> = outcome.skipped.iter().map(|s| (s.reason, s.detail.as_str())).collect();
    assert_eq!(
        reasons,
        [
            ("unexpected_rkey", "community profiles live at rkey `self`"),
            (
                "invalid_record",
                "`hostedBy` \"did:plc:ewvi7nxzyoun6zhxrhs64oiz\" must be a did:web (the hosting instance)"
            ),
            ("invalid_record", "`name` is required"),
        ]
    );
}

/// Every page of a list, following cursors; checks the last page has no cursor.
async fn all_pages(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut dids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let after = cursor.as_deref().map(|c| format!("&cursor={}", encode(c))).unwrap_or_default();
        let response = app.get(&format!("{query}&limit={limit}{after}")).await;
        assert_eq!(response.status, 200, "{}", response.body);
        let page = response.body["communities"].as_array().expect("communities").clone();
        assert!(page.len() <= limit);
        dids.extend(page.iter().map(|c| c["did"].as_str().expect("did").to_owned()));
        match response.body.get("cursor") {
            Some(next) => {
                assert_eq!(page.len(), limit, "a page with a cursor is full");
                cursor = Some(next.as_str().expect("cursor is a string").to_owned());
            }
            None => return dids,
        }
    }
    panic!("pagination did not end");
}

/// Every page of `communities(...)` through GraphQL.
async fn all_graphql_pages(app: &TestApp, arguments: &str, first: usize) -> Vec<String> {
    let mut dids = Vec::new();
    let mut after = Value::Null;
    for _ in 0..20 {
        let response = app
            .graphql(
                &format!(
                    "query($after: String) {{ communities({arguments} first: {first}, after: $after) \
                     {{ edges {{ cursor node {{ did }} }} nodes {{ did }} pageInfo {{ hasNextPage endCursor }} }} }}"
                ),
                json!({"after": after}),
            )
            .await;
        let connection = &response["data"]["communities"];
        let edges = connection["edges"].as_array().unwrap_or_else(|| panic!("{response}"));
        let nodes: Vec<_> = connection["nodes"].as_array().expect("nodes").iter().map(|n| n["did"].clone()).collect();
        assert_eq!(nodes, edges.iter().map(|e| e["node"]["did"].clone()).collect::<Vec<_>>());
        dids.extend(edges.iter().map(|e| e["node"]["did"].as_str().expect("did").to_owned()));
        assert_eq!(connection["pageInfo"]["endCursor"], edges.last().map_or(Value::Null, |e| e["cursor"].clone()));
        if connection["pageInfo"]["hasNextPage"] != true {
            return dids;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn lists_sort_and_paginate_without_gaps_or_duplicates() {
    let app = TestApp::start().await;
    serve_instance(&app);
    // name, subscribers, posts, createdAt day, visibility
    let specs = [
        ("delta", 5, 1, 3, "public"),
        ("alpha", 5, 9, 1, "public"),
        ("echo", 9, 0, 5, "unlisted"),
        ("bravo", 0, 9, 2, "public"),
        ("foxtrot", 5, 3, 4, "private"),
        ("charlie", 1, 2, 6, "public"),
        ("golf", 0, 0, 7, "public"),
    ];
    let mut events = Vec::new();
    let mut communities = Vec::new();
    for (i, (name, _, _, day, visibility)) in specs.iter().enumerate() {
        let community = community_identity(&app, name);
        let mut profile = record(name, HOSTED_BY);
        profile["createdAt"] = json!(format!("2026-01-0{day}T00:00:00Z"));
        profile["visibility"] = json!(visibility);
        let time_us = i64::try_from(i).expect("small") + 1;
        events.push(create(community.did.as_str(), PROFILE, "self", "3la0000000001", time_us, profile));
        communities.push(community);
    }
    app.ingest(&events).await;
    for (community, (_, subscribers, posts, ..)) in communities.iter().zip(&specs) {
        verified(&app, community.did.as_str()).await;
        set_counts(&app, community.did.as_str(), *subscribers, *posts).await;
    }
    let did_of = |name: &str| {
        let i = specs.iter().position(|s| s.0 == name).expect("known name");
        communities[i].did.to_string()
    };
    // Ties go by DID, which is random: sort each tie group by DID.
    let expect = |groups: &[&[&str]]| -> Vec<String> {
        groups
            .iter()
            .flat_map(|group| {
                let mut dids: Vec<String> = group.iter().map(|n| did_of(n)).collect();
                dids.sort();
                dids
            })
            .collect()
    };
    let popular = expect(&[&["echo"], &["delta", "alpha", "foxtrot"], &["charlie"], &["bravo", "golf"]]);
    let active = expect(&[&["alpha", "bravo"], &["foxtrot"], &["charlie"], &["delta"], &["echo", "golf"]]);
    let new = expect(&[&["golf"], &["charlie"], &["echo"], &["foxtrot"], &["delta"], &["bravo"], &["alpha"]]);
    let alphabetical = expect(&[&["alpha"], &["bravo"], &["charlie"], &["delta"], &["echo"], &["foxtrot"], &["golf"]]);

    let list = "/xrpc/social.coves.community.list?x=1";
    for limit in [1, 2, 3, 7, 100] {
        assert_eq!(all_pages(&app, list, limit).await, popular, "default sort, limit {limit}");
    }
    for (sort, expected) in [("popular", &popular), ("active", &active), ("new", &new), ("alphabetical", &alphabetical)]
    {
        assert_eq!(&all_pages(&app, &format!("{list}&sort={sort}"), 2).await, expected, "{sort}");
        let graphql = all_graphql_pages(&app, &format!("sort: {},", sort.to_uppercase()), 3).await;
        assert_eq!(&graphql, expected, "GraphQL {sort}");
    }
    let public: Vec<String> =
        alphabetical.iter().filter(|d| !["echo", "foxtrot"].iter().any(|n| did_of(n) == **d)).cloned().collect();
    assert_eq!(all_pages(&app, &format!("{list}&sort=alphabetical&visibility=public"), 2).await, public);
    assert_eq!(all_graphql_pages(&app, "sort: ALPHABETICAL, visibility: PUBLIC,", 2).await, public);

    // The list view (§5.4): small avatar, no detailed-only keys.
    let page = app.get(&format!("{list}&sort=alphabetical&limit=1")).await.body;
    let alpha = &page["communities"][0];
    assert_eq!(alpha["displayHandle"], "!alpha@coves.test");
    assert_eq!((alpha["subscriberCount"].as_i64(), alpha["postCount"].as_i64()), (Some(5), Some(9)));
    assert!(alpha.get("hostedBy").is_none() && alpha.get("createdBy").is_none(), "{alpha}");
    assert_eq!(alpha["description"], "A community for alpha fans.");
    assert!(alpha["avatar"].as_str().is_some_and(|a| a.starts_with(TEST_PDS)));
    let cursor = page["cursor"].as_str().expect("more pages").to_owned();

    // Cursors belong to their sort; garbage is refused; limits are clamped.
    let other_sort = app.get(&format!("{list}&sort=new&cursor={}", encode(&cursor))).await;
    assert_eq!((other_sort.status, other_sort.body["error"].as_str()), (400, Some("InvalidCursor")));
    let garbage = app.get(&format!("{list}&cursor=not-a-cursor")).await;
    assert_eq!((garbage.status, garbage.body["error"].as_str()), (400, Some("InvalidCursor")));
    let graphql = app
        .graphql(&format!("{{ communities(sort: NEW, after: \"{cursor}\") {{ nodes {{ did }} }} }}"), json!({}))
        .await;
    assert_eq!(graphql["errors"][0]["extensions"]["code"], "InvalidCursor", "{graphql}");
    let clamped = app.get(&format!("{list}&limit=500")).await;
    assert_eq!(clamped.body["communities"].as_array().map(Vec::len), Some(7));
    assert!(clamped.body.get("cursor").is_none());

    for (query, says) in [
        ("limit=ten", "limit"),
        ("sort=hot", "popular, active, new or alphabetical"),
        ("visibility=secret", "public, unlisted or private"),
        ("subscribed=maybe", "true or false"),
    ] {
        let response = app.get(&format!("/xrpc/social.coves.community.list?{query}")).await;
        assert_eq!((response.status, response.body["error"].as_str()), (400, Some("InvalidRequest")), "{query}");
        assert!(response.body["message"].as_str().is_some_and(|m| m.contains(says)), "{query}: {}", response.body);
    }
    let anonymous = app.get("/xrpc/social.coves.community.list?subscribed=true").await;
    assert_eq!((anonymous.status, anonymous.body["error"].as_str()), (401, Some("AuthenticationRequired")));
    let ignored = app.get("/xrpc/social.coves.community.list?category=games&language=en&subscribed=false").await;
    assert_eq!(ignored.body["communities"].as_array().map(Vec::len), Some(7));
}

#[tokio::test]
async fn search_matches_name_display_name_and_description_best_first() {
    let app = TestApp::start().await;
    serve_instance(&app);
    let mut events = Vec::new();
    let mut communities = Vec::new();
    for (i, (name, display_name, description)) in [
        ("gardening", "Gardening", "Plants and soil."),
        ("garden", "The Garden", "Small plots."),
        ("cooking", "Cooking", "Recipes from the garden."),
        ("chess", "Chess", "Openings and endgames."),
        ("veggies", "Veg Garden 100% organic", "Growing food."),
    ]
    .into_iter()
    .enumerate()
    {
        let community = community_identity(&app, name);
        let mut profile = record(name, HOSTED_BY);
        profile["displayName"] = json!(display_name);
        profile["description"] = json!(description);
        let time_us = i64::try_from(i).expect("small") + 1;
        events.push(create(community.did.as_str(), PROFILE, "self", "3la0000000001", time_us, profile));
        communities.push((name, community));
    }
    app.ingest(&events).await;
    for (_, community) in &communities {
        verified(&app, community.did.as_str()).await;
    }
    let did_of =
        |name: &str| communities.iter().find(|(n, _)| *n == name).map(|(_, c)| c.did.to_string()).expect("known");

    let search = app.get("/xrpc/social.coves.community.search?q=Garden").await;
    assert_eq!(search.status, 200, "{}", search.body);
    let found: Vec<&str> =
        search.body["communities"].as_array().expect("list").iter().filter_map(|c| c["did"].as_str()).collect();
    let (garden, gardening) = (did_of("garden"), did_of("gardening"));
    assert_eq!(
        found[..2],
        [garden.as_str(), gardening.as_str()],
        "the exact name, then a name containing it: {}",
        search.body
    );
    let mut rest: Vec<&str> = found[2..].to_vec();
    rest.sort_unstable();
    let mut expected = vec![did_of("cooking"), did_of("veggies")];
    expected.sort();
    assert_eq!(rest, expected, "then description and display-name matches");
    assert_eq!(search.body["total"], 4);
    assert!(search.body.get("cursor").is_none());

    // Pages of a search follow the same order; their cursors belong to this search.
    let paged = all_pages(&app, "/xrpc/social.coves.community.search?q=garden", 1).await;
    assert_eq!(paged, found.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>());
    let graphql = all_graphql_pages(&app, "search: \"garden\",", 3).await;
    assert_eq!(graphql, paged);
    let first = app.get("/xrpc/social.coves.community.search?q=garden&limit=1").await;
    let cursor = first.body["cursor"].as_str().expect("more").to_owned();
    let other = app.get(&format!("/xrpc/social.coves.community.search?q=chess&cursor={}", encode(&cursor))).await;
    assert_eq!((other.status, other.body["error"].as_str()), (400, Some("InvalidCursor")));

    // LIKE wildcards are literal; a search with a sort orders by that sort.
    let percent = app.get(&format!("/xrpc/social.coves.community.search?q={}", encode("100%"))).await;
    assert_eq!(percent.body["communities"][0]["did"], did_of("veggies"));
    assert_eq!(percent.body["total"], 1);
    let sorted = all_graphql_pages(&app, "search: \"garden\", sort: ALPHABETICAL,", 10).await;
    let mut alphabetical: Vec<(&str, String)> =
        ["cooking", "garden", "gardening", "veggies"].iter().map(|n| (*n, did_of(n))).collect();
    alphabetical.sort();
    assert_eq!(sorted, alphabetical.into_iter().map(|(_, d)| d).collect::<Vec<_>>());

    let missing = app.get("/xrpc/social.coves.community.search?q=%20").await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"error": "InvalidRequest", "message": "q parameter is required"}))
    );
    let nothing = app.get("/xrpc/social.coves.community.search?q=zzzzqqq").await;
    assert_eq!(nothing.body, json!({"communities": [], "total": 0}));
}

#[tokio::test]
async fn a_taken_down_community_is_hidden_until_reactivated() {
    let app = TestApp::start().await;
    serve_instance(&app);
    let gaming = add_community(&app, "gaming", "3la0000000001").await;
    let did = gaming.did.as_str();
    verified(&app, did).await;
    let get = format!("/xrpc/social.coves.community.get?community=!gaming@{DOMAIN}");
    assert_eq!(app.get(&get).await.status, 200);

    app.ingest(&[account(did, false, Some("takendown"), 5_000)]).await;
    assert_eq!(app.get(&get).await.status, 404, "a taken-down community answers 404 everywhere");
    assert_eq!(app.get("/xrpc/social.coves.community.list").await.body, json!({"communities": []}));
    assert_eq!(graphql_community(&app, did).await["data"]["community"], Value::Null);

    // An older event replayed after the takedown changes nothing.
    app.ingest(&[account(did, true, None, 4_000)]).await;
    assert_eq!(app.get(&get).await.status, 404);

    app.ingest(&[account(did, true, None, 6_000)]).await;
    assert_eq!(app.get(&get).await.status, 200, "reactivation restores it");
}
