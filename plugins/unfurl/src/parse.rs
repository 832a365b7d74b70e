//! Reading a preview out of a fetched page: oEmbed JSON for known providers, otherwise
//! the page's OpenGraph, Twitter-card and `<title>`/description tags (an HTML5 parser,
//! which accepts any input the way browsers do).

use coves_plugin_api::OembedProvider;
use scraper::{Html, Selector};
use serde::Deserialize;
use url::Url;

/// Longest title kept (characters; the external embed's limit).
const MAX_TITLE: usize = 500;
/// Longest description kept.
const MAX_DESCRIPTION: usize = 1000;
/// Longest site name, type or provider kept.
const MAX_SHORT: usize = 200;

/// Where a preview came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Oembed,
    Html,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Oembed => "oembed",
            Source::Html => "html",
        }
    }
}

/// A link preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub site_name: Option<String>,
    pub kind: Option<String>,
    pub provider: Option<String>,
    pub source: Source,
}

impl Preview {
    /// Whether there is anything to show.
    fn is_useful(&self) -> bool {
        self.title.is_some() || self.description.is_some() || self.image_url.is_some()
    }
}

/// The metadata of an HTML page at `page` (the URL after redirects), or `None` when it
/// has no title, description or image.
pub fn html_preview(body: &[u8], page: &Url) -> Option<Preview> {
    let text = String::from_utf8_lossy(body);
    let document = Html::parse_document(&text);
    let meta = Selector::parse("meta").ok()?;
    let title_tag = Selector::parse("title").ok()?;
    let mut tags: Vec<(String, String)> = Vec::new();
    for element in document.select(&meta) {
        let element = element.value();
        let Some(key) = element.attr("property").or_else(|| element.attr("name")) else { continue };
        let Some(content) = element.attr("content") else { continue };
        tags.push((key.trim().to_ascii_lowercase(), content.to_owned()));
    }
    let tag = |keys: &[&str], max: usize| {
        keys.iter().find_map(|key| tags.iter().find(|(k, _)| k == key).and_then(|(_, v)| clean(v, max)))
    };
    let title = tag(&["og:title", "twitter:title"], MAX_TITLE)
        .or_else(|| document.select(&title_tag).next().and_then(|t| clean(&t.text().collect::<String>(), MAX_TITLE)));
    let image_url = ["og:image:secure_url", "og:image", "og:image:url", "twitter:image", "twitter:image:src"]
        .iter()
        .find_map(|key| tags.iter().find(|(k, _)| k == key).and_then(|(_, v)| absolute_http_url(page, v)));
    let preview = Preview {
        title,
        description: tag(&["og:description", "twitter:description", "description"], MAX_DESCRIPTION),
        image_url,
        site_name: tag(&["og:site_name"], MAX_SHORT),
        kind: tag(&["og:type"], MAX_SHORT),
        provider: page.host_str().map(str::to_owned),
        source: Source::Html,
    };
    preview.is_useful().then_some(preview)
}

/// An oEmbed answer (only the fields a preview uses).
#[derive(Deserialize)]
struct Oembed {
    #[serde(rename = "type")]
    kind: Option<String>,
    title: Option<String>,
    author_name: Option<String>,
    provider_name: Option<String>,
    thumbnail_url: Option<String>,
    /// The image itself, for `photo`.
    url: Option<String>,
}

/// The preview in an oEmbed JSON answer from `endpoint`, or `None` when it is not one.
pub fn oembed_preview(body: &[u8], endpoint: &Url) -> Option<Preview> {
    let oembed: Oembed = serde_json::from_slice(body).ok()?;
    let kind = oembed.kind.as_deref().and_then(|k| clean(k, MAX_SHORT));
    let image = oembed.thumbnail_url.or_else(|| if kind.as_deref() == Some("photo") { oembed.url } else { None });
    let provider = oembed.provider_name.as_deref().and_then(|p| clean(p, MAX_SHORT));
    let preview = Preview {
        title: oembed.title.as_deref().and_then(|t| clean(t, MAX_TITLE)),
        description: oembed.author_name.as_deref().and_then(|a| clean(a, MAX_DESCRIPTION)),
        image_url: image.and_then(|i| absolute_http_url(endpoint, &i)),
        site_name: provider.clone(),
        kind,
        provider: provider.or_else(|| endpoint.host_str().map(str::to_owned)),
        source: Source::Oembed,
    };
    preview.is_useful().then_some(preview)
}

/// The first provider whose pattern matches `url`.
pub fn provider_for<'a>(providers: &'a [OembedProvider], url: &str) -> Option<&'a OembedProvider> {
    providers.iter().find(|p| glob_matches(&p.pattern, url))
}

/// The request URL of `provider`'s endpoint describing `url` as JSON.
pub fn oembed_request(provider: &OembedProvider, url: &str) -> Option<Url> {
    let mut endpoint = Url::parse(&provider.endpoint).ok()?;
    endpoint.query_pairs_mut().append_pair("url", url).append_pair("format", "json");
    Some(endpoint)
}

/// oEmbed's scheme globs: `*` matches any run of characters (also none); the rest must be
/// equal (ASCII case-insensitively: normalized URLs have lowercase hosts).
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p].eq_ignore_ascii_case(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// `raw` resolved against `base`, when it is an http(s) URL.
fn absolute_http_url(base: &Url, raw: &str) -> Option<String> {
    let url = base.join(raw.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string()).filter(|u| u.len() <= crate::link::MAX_URL_LEN)
}

/// Whitespace collapsed, cut to `max` characters; `None` when empty.
fn clean(raw: &str, max: usize) -> Option<String> {
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = collapsed.chars().take(max).collect();
    (!cut.is_empty()).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://news.example/a/story").expect("url")
    }

    #[test]
    fn opengraph_wins_over_twitter_and_title() {
        let html = br#"<html><head><title>Plain title</title>
            <meta property="og:title" content="  OG   title ">
            <meta name="twitter:title" content="Twitter title">
            <meta name="description" content="Meta description">
            <meta property="og:image" content="/img/cover.png">
            <meta property="og:site_name" content="News">
            <meta property="og:type" content="article"></head><body></body></html>"#;
        let preview = html_preview(html, &page()).expect("a preview");
        assert_eq!(preview.title.as_deref(), Some("OG title"));
        assert_eq!(preview.description.as_deref(), Some("Meta description"));
        assert_eq!(preview.image_url.as_deref(), Some("https://news.example/img/cover.png"));
        assert_eq!(preview.site_name.as_deref(), Some("News"));
        assert_eq!(preview.kind.as_deref(), Some("article"));
        assert_eq!(preview.provider.as_deref(), Some("news.example"));
    }

    #[test]
    fn broken_html_still_yields_its_title_and_garbage_yields_nothing() {
        let preview = html_preview(b"<title>Only a title<p><meta name=twitter:image content=javascript:x>", &page())
            .expect("a preview");
        assert_eq!(preview.title.as_deref(), Some("Only a title<p><meta name=twitter:image content=javascript:x>"));
        assert_eq!(preview.image_url, None);
        assert_eq!(html_preview(&[0xff, 0xfe, 0x00, 0x3c, 0x3e], &page()), None);
    }

    #[test]
    fn oembed_answers_become_previews() {
        let endpoint = Url::parse("https://www.youtube.com/oembed").expect("url");
        let body = br#"{"type":"video","title":"A video","author_name":"Someone","provider_name":"YouTube",
                        "thumbnail_url":"https://i.ytimg.com/vi/x/hqdefault.jpg","html":"<iframe></iframe>"}"#;
        let preview = oembed_preview(body, &endpoint).expect("a preview");
        assert_eq!(preview.title.as_deref(), Some("A video"));
        assert_eq!(preview.kind.as_deref(), Some("video"));
        assert_eq!(preview.provider.as_deref(), Some("YouTube"));
        assert_eq!(preview.image_url.as_deref(), Some("https://i.ytimg.com/vi/x/hqdefault.jpg"));
        assert_eq!(oembed_preview(b"<html>", &endpoint), None);
    }

    #[test]
    fn provider_patterns_are_globs() {
        let providers = vec![OembedProvider {
            pattern: "https://*.youtube.com/watch*".into(),
            endpoint: "https://www.youtube.com/oembed".into(),
        }];
        assert!(provider_for(&providers, "https://www.youtube.com/watch?v=abc").is_some());
        assert!(provider_for(&providers, "https://www.youtube.com/channel/x").is_none());
        assert!(provider_for(&providers, "https://youtube.com.evil.example/watch").is_none());
        let request = oembed_request(&providers[0], "https://www.youtube.com/watch?v=abc").expect("url");
        assert_eq!(
            request.as_str(),
            "https://www.youtube.com/oembed?url=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3Dabc&format=json"
        );
    }
}
