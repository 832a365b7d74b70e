//! Which link a post previews, and the normalized form that keys the cache.

use serde_json::Value;
use url::Url;

/// Longest link considered (longer ones are not previewed).
pub const MAX_URL_LEN: usize = 2048;

const EXTERNAL_EMBED: &str = "social.coves.embed.external";
const LINK_FACET: &str = "social.coves.richtext.facet#link";

/// The cache key of a link, or `None` when it is not an http(s) URL worth fetching.
///
/// Kept simple: the `url` crate's parse (WHATWG) lowercases the scheme and the host
/// (IDNA), drops the scheme's default port and resolves `.`/`..` path segments; the
/// fragment is removed (it never reaches the server). The path and query are kept as
/// written: `?a=1&b=2` and `?b=2&a=1` are two entries. Links with credentials are refused.
pub fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return None;
    }
    let mut url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    url.set_fragment(None);
    let normalized: String = url.into();
    (normalized.len() <= MAX_URL_LEN).then_some(normalized)
}

/// The link a post previews: its external embed's `uri`, else its first link facet, else
/// the first http(s) URL in its content; normalized.
pub fn preview_link(embed: Option<&Value>, facets: Option<&Value>, content: Option<&str>) -> Option<String> {
    if let Some(embed) = embed
        && embed.get("$type").and_then(Value::as_str) == Some(EXTERNAL_EMBED)
        && let Some(uri) = embed.pointer("/external/uri").and_then(Value::as_str)
    {
        return normalize(uri);
    }
    let from_facets = facets.and_then(Value::as_array).into_iter().flatten().find_map(|facet| {
        facet.get("features").and_then(Value::as_array)?.iter().find_map(|feature| {
            (feature.get("$type").and_then(Value::as_str) == Some(LINK_FACET))
                .then(|| feature.get("uri").and_then(Value::as_str).and_then(normalize))
                .flatten()
        })
    });
    from_facets.or_else(|| content.and_then(|text| urls_in_text(text).find_map(normalize)))
}

/// The http(s) URLs written in plain text, in order: from `http://` or `https://` to the
/// next whitespace or quote/angle bracket, without trailing punctuation (and without a
/// closing parenthesis that has no opening one inside the URL, as in "(see https://x.y)").
fn urls_in_text(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            let start = [rest.find("https://"), rest.find("http://")].into_iter().flatten().min()?;
            let candidate = &rest[start..];
            let end = candidate
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
                .unwrap_or(candidate.len());
            let mut url = &candidate[..end];
            rest = &candidate[end..];
            loop {
                let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?', ']', '}', '*', '_']);
                let trimmed = match trimmed.strip_suffix(')') {
                    Some(inner) if trimmed.matches('(').count() < trimmed.matches(')').count() => inner,
                    _ => trimmed,
                };
                if trimmed.len() == url.len() {
                    break;
                }
                url = trimmed;
            }
            if url.len() > "https://".len() {
                return Some(url);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn normalization_lowercases_scheme_and_host_and_drops_fragment_and_default_port() {
        assert_eq!(normalize("HTTPS://Example.COM:443/Path?q=A#frag").as_deref(), Some("https://example.com/Path?q=A"));
        assert_eq!(normalize("http://example.com:80").as_deref(), Some("http://example.com/"));
        assert_eq!(normalize("http://example.com:8080/a/../b").as_deref(), Some("http://example.com:8080/b"));
        assert_eq!(normalize("ftp://example.com/"), None);
        assert_eq!(normalize("javascript:alert(1)"), None);
        assert_eq!(normalize("https://user:pw@example.com/"), None);
        assert_eq!(normalize("not a url"), None);
    }

    #[test]
    fn the_external_embed_wins_then_facets_then_content() {
        let embed = json!({"$type": EXTERNAL_EMBED, "external": {"uri": "https://Embed.example/x"}});
        let facets = json!([{"index": {"byteStart": 0, "byteEnd": 3},
                             "features": [{"$type": LINK_FACET, "uri": "https://facet.example/"}]}]);
        let content = "see https://content.example/page.";
        assert_eq!(
            preview_link(Some(&embed), Some(&facets), Some(content)).as_deref(),
            Some("https://embed.example/x")
        );
        let images = json!({"$type": "social.coves.embed.images", "images": []});
        assert_eq!(
            preview_link(Some(&images), Some(&facets), Some(content)).as_deref(),
            Some("https://facet.example/")
        );
        assert_eq!(preview_link(None, None, Some(content)).as_deref(), Some("https://content.example/page"));
        assert_eq!(preview_link(None, None, Some("no links, only http:// here")), None);
    }

    #[test]
    fn urls_in_text_stop_at_punctuation_and_unbalanced_parentheses() {
        let text =
            "a (see https://a.example/x) and https://en.wikipedia.org/wiki/Rust_(language), \"http://q.example/?a=1\"";
        let found: Vec<_> = urls_in_text(text).collect();
        assert_eq!(
            found,
            ["https://a.example/x", "https://en.wikipedia.org/wiki/Rust_(language)", "http://q.example/?a=1"]
        );
    }
}
