//! The browser playground built from `web-playground/`: the GraphQL IDE at `/` and
//! `/playground`, the live view at `/live`, their bundled assets under `/assets/`, and the
//! bundled packages' licences at `/licenses.md`.
//!
//! The built bundle (`web-playground/dist`, committed) is embedded in the binary, so the
//! pages work offline and the Rust build needs no npm. Vite names every asset after its
//! content hash, which makes assets immutable; the pages themselves are revalidated.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{LazyLock, OnceLock};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coves_plugin_api::ApiError;
use flate2::Compression;
use flate2::write::GzEncoder;
use rust_embed::RustEmbed;

use crate::app::AppState;
use crate::xrpc::error_response;

#[derive(RustEmbed)]
#[folder = "../web-playground/dist"]
struct Bundle;

/// The pages may load only what this server serves: its own scripts, styles and workers,
/// and its own GraphQL endpoint (`'self'` covers the same-origin websocket). Inline styles
/// are GraphiQL's; fonts and icons come as data URIs.
const PAGE_POLICY: &str = "default-src 'self'; connect-src 'self'; worker-src 'self' blob:; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The routes of the playground (API processes only).
pub fn routes() -> Router<AppState> {
    let page = |file: &'static str| move |headers: HeaderMap| async move { serve(file, &headers).await };
    Router::new()
        .route("/", get(page("index.html")))
        .route("/playground", get(page("index.html")))
        .route("/live", get(page("live.html")))
        .route("/favicon.svg", get(page("favicon.svg")))
        .route("/licenses.md", get(page("licenses.md")))
        .route(
            "/assets/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                serve(&format!("assets/{file}"), &headers).await
            }),
        )
}

/// One embedded file with its response headers, and its gzip form once asked for.
struct Asset {
    bytes: &'static [u8],
    content_type: HeaderValue,
    /// Tags of the plain and the gzip representations (each encoding is its own).
    etag: HeaderValue,
    gzip_etag: HeaderValue,
    immutable: bool,
    gzip: OnceLock<Option<Vec<u8>>>,
}

static ASSETS: LazyLock<HashMap<String, Asset>> = LazyLock::new(|| {
    Bundle::iter()
        .filter_map(|path| {
            let file = Bundle::get(&path)?;
            // Embedded data lives for the whole program (`debug-embed` includes it too).
            let std::borrow::Cow::Borrowed(bytes) = file.data else { return None };
            let hash = URL_SAFE_NO_PAD.encode(&file.metadata.sha256_hash()[..16]);
            let asset = Asset {
                bytes,
                content_type: HeaderValue::from_str(&content_type(file.metadata.mimetype())).ok()?,
                etag: HeaderValue::from_str(&format!("\"{hash}\"")).ok()?,
                gzip_etag: HeaderValue::from_str(&format!("\"{hash}-gzip\"")).ok()?,
                immutable: path.starts_with("assets/"),
                gzip: OnceLock::new(),
            };
            Some((path.into_owned(), asset))
        })
        .collect()
});

async fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.get(path) else {
        return error_response(&ApiError::not_found("NotFound", format!("the playground has no file {path}")));
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, asset.content_type.clone());
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if path.ends_with(".html") {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    }
    let gzipped = if accepts_gzip(request) { gzipped(asset).await } else { None };
    let (body, etag) = match gzipped {
        Some(gzipped) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (gzipped, &asset.gzip_etag)
        }
        None => (asset.bytes, &asset.etag),
    };
    headers.insert(header::ETAG, etag.clone());
    if request.get(header::IF_NONE_MATCH).is_some_and(|tags| matches_etag(tags, etag)) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, body).into_response()
}

fn content_type(mime: &str) -> String {
    if mime.starts_with("text/") { format!("{mime}; charset=utf-8") } else { mime.to_owned() }
}

/// The asset's gzip form, compressed on first use off the async workers (Monaco's takes
/// 0.15 s in release), or `None` when gzip does not pay.
async fn gzipped(asset: &'static Asset) -> Option<&'static [u8]> {
    if asset.gzip.get().is_none() {
        let compress = move || asset.gzip.get_or_init(|| gzip(asset.bytes)).is_some();
        tokio::task::spawn_blocking(compress).await.ok()?;
    }
    asset.gzip.get()?.as_deref()
}

/// The gzip form when it saves at least a tenth (not for fonts or images already packed).
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 3), Compression::default());
    encoder.write_all(bytes).ok()?;
    let gzipped = encoder.finish().ok()?;
    (gzipped.len() * 10 <= bytes.len() * 9).then_some(gzipped)
}

fn accepts_gzip(request: &HeaderMap) -> bool {
    request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, q)| {
                    k.trim().eq_ignore_ascii_case("q") && q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        },
    )
}

fn matches_etag(tags: &HeaderValue, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    tags.to_str().is_ok_and(|tags| {
        tags.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_holds_both_pages_and_their_assets() {
        for page in ["index.html", "live.html"] {
            let html = std::str::from_utf8(ASSETS[page].bytes).expect("the pages are UTF-8");
            let referenced: Vec<_> = html.split('"').filter(|part| part.starts_with("/assets/")).collect();
            assert!(!referenced.is_empty(), "{page} references no assets");
            for asset in referenced {
                assert!(ASSETS.contains_key(&asset[1..]), "{page} references {asset}, which is not embedded");
            }
        }
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        let accepts = |value: &'static str| {
            accepts_gzip(&HeaderMap::from_iter([(header::ACCEPT_ENCODING, HeaderValue::from_static(value))]))
        };
        assert!(accepts("gzip, deflate, br"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("br"));
        assert!(!accepts("gzip;q=0, br"));
        assert!(!accepts("gzip; q=0.000"));
        assert!(accepts("gzip; q=0.001"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn etags_match_strong_weak_and_lists() {
        let etag = HeaderValue::from_static("\"abc\"");
        assert!(matches_etag(&HeaderValue::from_static("\"abc\""), &etag));
        assert!(matches_etag(&HeaderValue::from_static("W/\"abc\""), &etag));
        assert!(matches_etag(&HeaderValue::from_static("\"x\", \"abc\""), &etag));
        assert!(matches_etag(&HeaderValue::from_static("*"), &etag));
        assert!(!matches_etag(&HeaderValue::from_static("\"abd\""), &etag));
    }
}
