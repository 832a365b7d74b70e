//! Generic URIs (the lexicon `uri` format, <https://atproto.com/specs/lexicon#uri>).

use std::sync::LazyLock;

use regex::Regex;

/// An RFC 3986 scheme followed by `:`.
static SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z][a-zA-Z0-9+.-]*:").expect("static regex is valid"));

/// Longest URI the lexicon spec allows (8 KB).
const MAX_LEN: usize = 8192;

/// Any URI, such as `https://example.com/path` or `did:web:example.com`.
///
/// Syntax (deliberately loose, like the reference implementations): at most 8192 bytes,
/// an RFC 3986 scheme (`[a-zA-Z][a-zA-Z0-9+.-]*`), `:`, then at least one character, with
/// no whitespace or control characters anywhere. Non-ASCII characters are allowed, so
/// IRIs found in real records pass.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uri(String);

string_newtype!(Uri, "URI", validate);

impl Uri {
    /// The scheme as written, e.g. `https` (schemes are case-insensitive).
    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map(|(scheme, _)| scheme).unwrap_or_default()
    }
}

fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 8192 bytes");
    }
    let Some(scheme) = SCHEME.find(s) else {
        return Err("must start with a scheme ([a-zA-Z][a-zA-Z0-9+.-]*) and \":\"");
    };
    if scheme.end() == s.len() {
        return Err("nothing after the scheme");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_and_serde() {
        let uri = Uri::new("https://example.com/ü?q=1#f").expect("valid");
        assert_eq!(uri.scheme(), "https");
        let json = serde_json::to_string(&uri).expect("serializes");
        assert_eq!(serde_json::from_str::<Uri>(&json).expect("deserializes"), uri);
        let err = serde_json::from_str::<Uri>(r#""https://a b""#).expect_err("invalid");
        assert!(err.to_string().contains("whitespace"), "{err}");
    }
}
