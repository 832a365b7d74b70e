//! Namespaced identifiers (<https://atproto.com/specs/nsid>).

use super::handle::validate_label;

/// Longest NSID the spec allows (253-character domain + `.` + 63-character name).
const MAX_LEN: usize = 317;

/// Longest name segment.
const MAX_NAME_LEN: usize = 63;

/// An NSID such as `app.bsky.feed.post`: names a lexicon (record collection, XRPC method,
/// ...).
///
/// Syntax: at most 317 ASCII characters in at least three `.`-separated segments. The
/// domain authority (all but the last segment, reversed DNS order) uses handle label
/// rules, and its first segment must not start with a digit. The name (last segment) is
/// 1–63 ASCII letters and digits starting with a letter. Case is kept: the name is
/// case-sensitive.
///
/// The spec text also caps the domain authority at 253 characters, but its reference
/// implementations and interop vectors only enforce the 317 total (a valid vector has a
/// 283-character authority), so that is all this checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nsid(String);

string_newtype!(Nsid, "NSID", validate);

impl Nsid {
    /// The domain authority as written (reversed DNS order), e.g. `app.bsky.feed` for
    /// `app.bsky.feed.post`.
    pub fn authority(&self) -> &str {
        self.0.rsplit_once('.').map(|(authority, _)| authority).unwrap_or_default()
    }

    /// The name segment, e.g. `post` for `app.bsky.feed.post`.
    pub fn name(&self) -> &str {
        self.0.rsplit_once('.').map(|(_, name)| name).unwrap_or_default()
    }
}

fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 317 characters");
    }
    let Some((authority, name)) = s.rsplit_once('.') else {
        return Err("needs at least three segments");
    };
    let mut segments = 0;
    for segment in authority.split('.') {
        validate_label(segment)?;
        segments += 1;
    }
    if segments < 2 {
        return Err("needs at least three segments");
    }
    if authority.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("first segment must not start with a digit");
    }
    if name.is_empty() {
        return Err("empty name segment");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("name segment longer than 63 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("name segment may only contain ASCII letters and digits");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("name segment must start with a letter");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let nsid = Nsid::new("app.bsky.feed.post").expect("valid");
        assert_eq!(nsid.authority(), "app.bsky.feed");
        assert_eq!(nsid.name(), "post");
        let short = Nsid::new("a.b.c").expect("valid");
        assert_eq!((short.authority(), short.name()), ("a.b", "c"));
    }

    #[test]
    fn serde_round_trip() {
        let nsid = Nsid::new("com.example.fooBarV2").expect("valid");
        let json = serde_json::to_string(&nsid).expect("serializes");
        assert_eq!(json, r#""com.example.fooBarV2""#);
        assert_eq!(serde_json::from_str::<Nsid>(&json).expect("deserializes"), nsid);
        assert!(serde_json::from_str::<Nsid>(r#""com.example""#).is_err());
    }
}
