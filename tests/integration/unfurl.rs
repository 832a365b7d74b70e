//! Link previews (the unfurl plugin) against local HTTP servers: OpenGraph and oEmbed
//! parsed off the ingest path, the cache (fresh entries not fetched again, expired ones
//! fetched again, the cleanup), the SSRF guards (private targets, also through redirects
//! and names resolving to loopback), slow, huge and looping answers cached as failures,
//! and the GraphQL fields answering from the cache only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use coves_plugin_api::{OembedProvider, UnfurlSettings};
use coves_tests::TestApp;
use coves_tests::forum::{Forum, POST, Ref, known_actor, readable_community};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

const COMMUNITY: &str = "did:plc:linkcommunity2222222222222";
const ALICE: &str = "did:plc:linkalice22222222222222222";

/// A local web site that counts the requests of each path.
#[derive(Clone)]
struct Site {
    port: u16,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Site {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the site");
        let port = listener.local_addr().expect("address").port();
        let site = Site { port, hits: Arc::default() };
        let router = Router::new().fallback(answer).with_state(site.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.expect("the site serves") });
        site
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().expect("hits").get(path).copied().unwrap_or(0)
    }
}

async fn answer(State(site): State<Site>, uri: Uri, Query(query): Query<HashMap<String, String>>) -> Response {
    *site.hits.lock().expect("hits").entry(uri.path().to_owned()).or_default() += 1;
    let html = |body: String| ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    let redirect = |to: String| (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    match uri.path() {
        "/article" | "/watch" => html(format!(
            r#"<!doctype html><html><head><title>Plain title</title>
            <meta property="og:title" content="Growing tomatoes">
            <meta property="og:description" content="Everything about tomatoes.">
            <meta property="og:image" content="/cover.jpg">
            <meta property="og:site_name" content="Garden News">
            <meta property="og:type" content="article">
            <meta name="twitter:title" content="Not this one"></head><body>{}</body></html>"#,
            uri.path()
        )),
        "/title-only" => html("<title>Just a title</title><p>unclosed <div><span>".to_owned()),
        "/oembed" => {
            let described = query.get("url").cloned().unwrap_or_default();
            let body = json!({"version": "1.0", "type": "video", "title": format!("Video at {described}"),
                              "author_name": "A channel", "provider_name": "LocalTube",
                              "thumbnail_url": format!("http://127.0.0.1:{}/thumb.jpg", site.port)});
            ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            html("<title>Too late</title>".to_owned())
        }
        "/huge" => {
            // Streamed without a Content-Length: 2 MiB of HTML in 64 KiB chunks.
            let chunk = format!("<title>Huge</title>{}", "x".repeat(64 * 1024 - 20));
            let chunks = futures::stream::iter((0..32).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            ([(header::CONTENT_TYPE, "text/html")], Body::from_stream(chunks)).into_response()
        }
        "/image" => ([(header::CONTENT_TYPE, "image/png")], vec![0x89u8, b'P', b'N', b'G']).into_response(),
        "/loop" => redirect("/loop".to_owned()),
        "/to-private" => redirect("http://10.0.0.1/admin".to_owned()),
        "/to-localhost" => redirect(format!("http://localhost:{}/article", site.port)),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Settings reaching the local site: 127.0.0.1 allowed, its `/watch` pages described by
/// its oEmbed endpoint, a short timeout, and no rate limit to speak of.
fn local_settings(site: &Site) -> UnfurlSettings {
    UnfurlSettings {
        allow_hosts: vec!["127.0.0.1".into()],
        oembed_providers: vec![OembedProvider { pattern: site.url("/watch*"), endpoint: site.url("/oembed") }],
        timeout: Duration::from_secs(1),
        host_rate: 1000,
        ..UnfurlSettings::default()
    }
}

async fn app_with(settings: UnfurlSettings) -> TestApp {
    let app = TestApp::with_instance(|instance| instance.unfurl = settings).await;
    readable_community(&app, COMMUNITY, "links").await;
    known_actor(&app, ALICE, "alice.test").await;
    app
}

/// A post linking `url` through an external embed.
fn post_with_embed(forum: &Forum, url: &str) -> (Ref, coves_appview::ingest::Event) {
    forum.create(
        COMMUNITY,
        POST,
        json!({"$type": POST, "community": COMMUNITY, "author": ALICE, "title": "A link",
               "embed": {"$type": "social.coves.embed.external", "external": {"uri": url}},
               "createdAt": "2026-01-02T03:04:05Z"}),
    )
}

/// A post with `url` in its text only.
fn post_with_text(forum: &Forum, url: &str) -> (Ref, coves_appview::ingest::Event) {
    forum.create(
        COMMUNITY,
        POST,
        json!({"$type": POST, "community": COMMUNITY, "author": ALICE, "title": "Look",
               "content": format!("Have a look at {url}."), "createdAt": "2026-01-02T03:04:05Z"}),
    )
}

#[derive(diesel::QueryableByName, Debug, Clone)]
struct CacheRow {
    #[diesel(sql_type = Bool)]
    ok: bool,
    #[diesel(sql_type = Nullable<Text>)]
    title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = BigInt)]
    fetched_us: i64,
}

async fn cache_row(app: &TestApp, url: &str) -> Option<CacheRow> {
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query(
        "SELECT ok, title, error, (extract(epoch FROM fetched_at) * 1000000)::bigint AS fetched_us \
         FROM unfurl_cache WHERE url = $1",
    )
    .bind::<Text, _>(url)
    .get_results(&mut conn)
    .await
    .expect("cache query")
    .pop()
}

/// Waits until `url`'s cache row satisfies `done`.
async fn wait_for(app: &TestApp, url: &str, done: impl Fn(&CacheRow) -> bool) -> CacheRow {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(row) = cache_row(app, url).await
            && done(&row)
        {
            return row;
        }
        assert!(Instant::now() < deadline, "no cache entry for {url} in time: {:?}", cache_row(app, url).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cached(app: &TestApp, url: &str) -> CacheRow {
    wait_for(app, url, |_| true).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query(sql).get_result::<N>(&mut conn).await.expect("count").n
}

const PREVIEW_FIELDS: &str = "url title description imageUrl siteName type provider fetchedAt";

#[tokio::test]
async fn opengraph_and_oembed_previews_are_fetched_and_served_from_the_cache() {
    let site = Site::start().await;
    let app = app_with(local_settings(&site)).await;
    let forum = Forum::new();
    let article = site.url("/article");
    // An upper-case host and a fragment: both normalized away.
    let (with_embed, e1) = post_with_embed(&forum, &format!("HTTP://127.0.0.1:{}/article#comments", site.port));
    let video = site.url("/watch?v=abc");
    let (with_text, e2) = post_with_text(&forum, &video);
    let (without_link, e3) = forum.post(COMMUNITY, ALICE, "No link here", "2026-01-02T03:04:05Z");
    app.ingest(&[e1, e2, e3]).await;

    assert!(cached(&app, &article).await.ok);
    assert!(cached(&app, &video).await.ok);
    assert_eq!(site.hits("/article"), 1);
    assert_eq!((site.hits("/oembed"), site.hits("/watch")), (1, 0), "the oEmbed provider describes /watch");

    let query = format!(
        "query($a: String!, $b: String!, $c: String!) {{
           a: post(uri: $a) {{ linkPreview {{ {PREVIEW_FIELDS} }} }}
           b: post(uri: $b) {{ linkPreview {{ {PREVIEW_FIELDS} }} }}
           c: post(uri: $c) {{ linkPreview {{ title }} }} }}"
    );
    let body = app.graphql(&query, json!({"a": with_embed.uri, "b": with_text.uri, "c": without_link.uri})).await;
    assert_eq!(body.get("errors"), None, "{body}");
    let og = &body["data"]["a"]["linkPreview"];
    assert_eq!(og["url"], article);
    assert_eq!(og["title"], "Growing tomatoes");
    assert_eq!(og["description"], "Everything about tomatoes.");
    assert_eq!(og["imageUrl"], site.url("/cover.jpg"));
    assert_eq!(og["siteName"], "Garden News");
    assert_eq!(og["type"], "article");
    assert_eq!(og["provider"], "127.0.0.1");
    assert!(og["fetchedAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{og}");
    let oembed = &body["data"]["b"]["linkPreview"];
    assert_eq!(oembed["title"], format!("Video at {video}"));
    assert_eq!(oembed["type"], "video");
    assert_eq!(oembed["provider"], "LocalTube");
    assert_eq!(oembed["siteName"], "LocalTube");
    assert_eq!(oembed["imageUrl"], site.url("/thumb.jpg"));
    assert_eq!(body["data"]["c"]["linkPreview"], Value::Null);

    // unfurl(url:) normalizes its argument and reads the cache only.
    let unfurl = |url: String| {
        let app = &app;
        async move { app.graphql("query($u: String!) { unfurl(url: $u) { url title } }", json!({"u": url})).await }
    };
    let body = unfurl(format!("http://127.0.0.1:{}/article#top", site.port)).await;
    assert_eq!(body["data"]["unfurl"], json!({"url": article, "title": "Growing tomatoes"}));
    let body = unfurl(site.url("/title-only")).await;
    assert_eq!(body["data"]["unfurl"], Value::Null, "never fetched: {body}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(site.hits("/title-only"), 0, "a query never fetches");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM unfurl_queue").await, 0);
    let body = unfurl("ftp://example.com/".to_owned()).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "InvalidRequest", "{body}");

    // Malformed HTML still has its title.
    let (_, e4) = post_with_text(&forum, &site.url("/title-only"));
    app.ingest(&[e4]).await;
    assert_eq!(cached(&app, &site.url("/title-only")).await.title.as_deref(), Some("Just a title"));
}

#[tokio::test]
async fn a_fresh_entry_is_not_fetched_again_and_an_expired_one_is() {
    let site = Site::start().await;
    let app = app_with(local_settings(&site)).await;
    let forum = Forum::new();
    let article = site.url("/article");
    app.ingest(&[post_with_embed(&forum, &article).1]).await;
    let first = cached(&app, &article).await;
    assert_eq!(site.hits("/article"), 1);

    // Fresh: a second post linking it does not even queue it.
    app.ingest(&[post_with_text(&forum, &article).1]).await;
    assert_eq!(count(&app, "SELECT count(*) AS n FROM unfurl_queue").await, 0);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(site.hits("/article"), 1, "a cache hit makes no request");

    // Expired: the next post linking it fetches it again.
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query("UPDATE unfurl_cache SET expires_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .expect("expire");
    app.ingest(&[post_with_embed(&forum, &article).1]).await;
    let second = wait_for(&app, &article, |row| row.fetched_us > first.fetched_us).await;
    assert!(second.ok);
    assert_eq!(site.hits("/article"), 2);
}

#[tokio::test]
async fn the_cleanup_deletes_only_expired_rows() {
    let site = Site::start().await;
    let settings = UnfurlSettings { cleanup_interval: Duration::from_millis(200), ..local_settings(&site) };
    let app = app_with(settings).await;
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query(
        "INSERT INTO unfurl_cache (url, ok, title, error, fetched_at, expires_at) \
         SELECT 'https://expired.example/' || i, i % 2 = 0, 'old', CASE WHEN i % 2 = 1 THEN 'timeout: old' END, \
                now() - interval '2 days', now() - interval '1 hour' FROM generate_series(1, 2500) i \
         UNION ALL \
         SELECT 'https://fresh.example/' || i, true, 'new', NULL, now(), now() + interval '1 day' FROM generate_series(1, 3) i",
    )
    .execute(&mut conn)
    .await
    .expect("rows inserted");
    let deadline = Instant::now() + Duration::from_secs(15);
    while count(&app, "SELECT count(*) AS n FROM unfurl_cache WHERE expires_at <= now()").await > 0 {
        assert!(Instant::now() < deadline, "expired rows were not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(&app, "SELECT count(*) AS n FROM unfurl_cache").await, 3, "fresh rows stay");
}

#[tokio::test]
async fn with_the_cleanup_disabled_rows_stay_until_a_cleanup_runs() {
    let site = Site::start().await;
    let settings =
        UnfurlSettings { cleanup_enabled: false, cleanup_interval: Duration::from_millis(50), ..local_settings(&site) };
    let app = app_with(settings).await;
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query(
        "INSERT INTO unfurl_cache (url, ok, title, fetched_at, expires_at) \
         SELECT 'https://expired.example/' || i, true, 'old', now() - interval '2 days', now() - interval '1 hour' \
         FROM generate_series(1, 1500) i \
         UNION ALL SELECT 'https://fresh.example/', true, 'new', now(), now() + interval '1 day'",
    )
    .execute(&mut conn)
    .await
    .expect("rows inserted");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&app, "SELECT count(*) AS n FROM unfurl_cache").await, 1501, "no cleanup task ran");
    let deleted = coves_plugin_unfurl::cleanup::clean(&app.app).await.expect("cleanup");
    assert_eq!(deleted, 1500, "two chunks, counted");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM unfurl_cache").await, 1);
}

#[tokio::test]
async fn private_targets_are_refused_by_default() {
    let site = Site::start().await;
    let settings = UnfurlSettings { host_rate: 1000, ..UnfurlSettings::default() };
    let app = app_with(settings).await;
    let forum = Forum::new();
    let targets = [
        (site.url("/article"), "127.0.0.1 is loopback"),
        (format!("http://localhost:{}/article", site.port), "localhost resolves to"),
        ("http://10.0.0.1/admin".to_owned(), "10.0.0.1 is private"),
        ("http://169.254.169.254/latest/meta-data/".to_owned(), "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/".to_owned(), "cloud metadata"),
        ("http://[::1]/".to_owned(), "loopback"),
        ("http://100.64.1.1/".to_owned(), "carrier-grade NAT"),
    ];
    let events: Vec<_> = targets.iter().map(|(url, _)| post_with_embed(&forum, url).1).collect();
    app.ingest(&events).await;
    for (url, reason) in &targets {
        let row = cached(&app, url).await;
        let error = row.error.unwrap_or_default();
        assert!(!row.ok && error.starts_with("refused_address: ") && error.contains(reason), "{url}: {error}");
    }
    assert_eq!(site.hits("/article"), 0, "nothing reached the local site");
}

#[tokio::test]
async fn redirects_slow_huge_and_wrong_answers_are_cached_as_failures() {
    let site = Site::start().await;
    let app = app_with(local_settings(&site)).await;
    let forum = Forum::new();
    let cases = [
        ("/to-private", "refused_address: "),
        ("/to-localhost", "refused_address: "),
        ("/loop", "too_many_redirects: "),
        ("/slow", "timeout: "),
        ("/huge", "too_large: "),
        ("/image", "content_type: "),
        ("/missing", "http_status: "),
    ];
    let events: Vec<_> = cases.iter().map(|(path, _)| post_with_embed(&forum, &site.url(path)).1).collect();
    let started = Instant::now();
    app.ingest(&events).await;
    assert!(started.elapsed() < Duration::from_secs(1), "the ingest does not wait for the network");
    for (path, reason) in cases {
        let row = cached(&app, &site.url(path)).await;
        let error = row.error.unwrap_or_default();
        assert!(!row.ok && error.starts_with(reason), "{path}: {error}");
        let body = app.graphql("query($u: String!) { unfurl(url: $u) { title } }", json!({"u": site.url(path)})).await;
        assert_eq!(body["data"]["unfurl"], Value::Null, "{path}: failures are not previews");
    }
    assert_eq!(site.hits("/loop"), 4, "the first request and 3 redirects");
    assert_eq!(site.hits("/article"), 0, "the redirect to localhost was not followed");
    assert!(count(&app, "SELECT count(*) AS n FROM unfurl_queue").await == 0);
}

#[tokio::test]
async fn updates_deletes_and_replays_keep_each_posts_link_current() {
    let site = Site::start().await;
    let app = app_with(local_settings(&site)).await;
    let forum = Forum::new();
    let article = site.url("/article");
    let (post, create) = post_with_embed(&forum, &article);
    app.ingest(std::slice::from_ref(&create)).await;
    cached(&app, &article).await;
    let links = "SELECT count(*) AS n FROM unfurl_post_links";
    assert_eq!(count(&app, links).await, 1);

    // An update that drops the link forgets it; replaying the older create does not bring it back.
    let without = json!({"$type": POST, "community": COMMUNITY, "author": ALICE, "title": "No link any more",
                         "createdAt": "2026-01-02T03:04:05Z"});
    app.ingest(&[coves_tests::events::update(COMMUNITY, POST, &post.rkey, "3lzzzzzzzzzz2", 9_000_000, without)]).await;
    assert_eq!(count(&app, links).await, 0);
    app.ingest(&[create]).await;
    assert_eq!(count(&app, links).await, 0, "a replayed create changes nothing");
    let body =
        app.graphql("query($u: String!) { post(uri: $u) { linkPreview { url } } }", json!({"u": post.uri})).await;
    assert_eq!(body["data"]["post"]["linkPreview"], Value::Null, "{body}");

    // A deleted post's link is forgotten too.
    let (other, create) = post_with_text(&forum, &article);
    app.ingest(&[create]).await;
    assert_eq!(count(&app, links).await, 1);
    app.ingest(&[forum.delete(COMMUNITY, POST, &other)]).await;
    assert_eq!(count(&app, links).await, 0);
}
