//! The embedded browser playground: its pages, their assets, caching and compression.
//! (The pages' behaviour in a browser is tested by `web-playground/tests`.)

use std::io::Read;

use coves_tests::TestApp;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

async fn fetch(app: &TestApp, path: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> Fetched {
    let mut request = app.http.get(format!("{}{path}", app.base));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = request.send().await.expect("GET");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    Fetched { status, headers, body: response.bytes().await.expect("body").to_vec() }
}

/// The `/assets/…` files a page references.
fn assets_of(html: &[u8]) -> Vec<String> {
    let html = String::from_utf8(html.to_vec()).expect("UTF-8 page");
    html.split('"').filter(|part| part.starts_with("/assets/")).map(str::to_owned).collect()
}

#[tokio::test]
async fn the_pages_and_every_asset_they_reference_are_served() {
    let app = TestApp::without_background_tasks().await;
    let ide = fetch(&app, "/", &[]).await;
    assert_eq!(ide.status, 200);
    assert_eq!(ide.headers[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(ide.headers[CACHE_CONTROL], "no-cache", "pages are revalidated, so a new build shows at once");
    let policy = ide.headers["content-security-policy"].to_str().expect("ASCII policy");
    assert!(policy.starts_with("default-src 'self'; connect-src 'self'"), "{policy}");
    assert_eq!(fetch(&app, "/playground", &[]).await.body, ide.body, "/playground is the IDE too");

    let live = fetch(&app, "/live", &[]).await;
    assert_eq!(live.status, 200);
    assert_ne!(live.body, ide.body);

    for page in [&ide, &live] {
        let assets = assets_of(&page.body);
        assert!(assets.iter().any(|a| a.ends_with(".js")), "a page loads a script: {assets:?}");
        for asset in assets {
            let fetched = fetch(&app, &asset, &[]).await;
            assert_eq!(fetched.status, 200, "{asset}");
            assert_eq!(fetched.headers[CACHE_CONTROL], "public, max-age=31536000, immutable", "{asset}");
            let expected =
                if asset.ends_with(".css") { "text/css; charset=utf-8" } else { "text/javascript; charset=utf-8" };
            assert_eq!(fetched.headers[CONTENT_TYPE], expected, "{asset}");
            assert!(fetched.headers.get("content-security-policy").is_none(), "only pages carry the policy");
        }
    }
    assert_eq!(fetch(&app, "/favicon.svg", &[]).await.headers[CONTENT_TYPE], "image/svg+xml");
}

#[tokio::test]
async fn assets_are_gzipped_on_request_and_revalidated_by_etag() {
    let app = TestApp::without_background_tasks().await;
    let ide = fetch(&app, "/", &[]).await;
    let script = assets_of(&ide.body).into_iter().find(|a| a.ends_with(".js")).expect("a script");

    let plain = fetch(&app, &script, &[]).await;
    assert!(plain.headers.get(CONTENT_ENCODING).is_none(), "no gzip unless asked");
    let gzipped = fetch(&app, &script, &[(ACCEPT_ENCODING, "br;q=1, gzip;q=0.8")]).await;
    assert_eq!(gzipped.headers[CONTENT_ENCODING], "gzip");
    assert_eq!(gzipped.headers["vary"], "accept-encoding");
    assert!(gzipped.body.len() < plain.body.len() / 2, "{} of {} bytes", gzipped.body.len(), plain.body.len());
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(gzipped.body.as_slice()).read_to_end(&mut unpacked).expect("valid gzip");
    assert!(unpacked == plain.body, "gzip holds the same bytes");
    let refused = fetch(&app, &script, &[(ACCEPT_ENCODING, "gzip;q=0")]).await;
    assert!(refused.headers.get(CONTENT_ENCODING).is_none());

    let etag = plain.headers[ETAG].to_str().expect("ASCII etag").to_owned();
    let gzip_etag = gzipped.headers[ETAG].to_str().expect("ASCII etag").to_owned();
    assert_ne!(etag, gzip_etag, "each encoding is its own representation");
    let revalidated = fetch(&app, &script, &[(IF_NONE_MATCH, &etag)]).await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    let revalidated = fetch(&app, &script, &[(IF_NONE_MATCH, &gzip_etag), (ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(revalidated.status, 304);
    assert_eq!(fetch(&app, "/", &[(IF_NONE_MATCH, "\"stale\"")]).await.status, 200);
}

#[tokio::test]
async fn a_missing_asset_answers_a_json_404() {
    let app = TestApp::without_background_tasks().await;
    let missing = app.get("/assets/no-such-file.js").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"], "NotFound");
    assert_eq!(missing.body["message"], "the playground has no file assets/no-such-file.js");
}
