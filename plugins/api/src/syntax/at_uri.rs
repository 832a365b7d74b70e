//! AT-URIs (<https://atproto.com/specs/at-uri-scheme>).

use super::{AtIdentifier, Did, Nsid, RecordKey};

/// Longest AT-URI the spec allows (8 KB).
const MAX_LEN: usize = 8192;

/// The scheme prefix.
const PREFIX: &str = "at://";

/// An AT-URI such as `at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a`.
///
/// This is the restricted syntax the lexicon `at-uri` format uses:
/// `at://{authority}[/{collection}[/{rkey}]]`, where the authority is a DID or handle,
/// the collection an NSID and the record key a [`RecordKey`]. No query, fragment,
/// trailing slash or further path segments; at most 8192 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AtUri(String);

string_newtype!(AtUri, "AT-URI", validate);

impl AtUri {
    /// The URI of record `rkey` in `collection` of repository `did`.
    ///
    /// Infallible: the parts are already valid, and together they stay well under the
    /// length limit (2048 + 317 + 512 characters).
    pub fn from_parts(did: &Did, collection: &Nsid, rkey: &RecordKey) -> AtUri {
        AtUri(format!("{PREFIX}{did}/{collection}/{rkey}"))
    }

    /// The authority (DID or handle) as written.
    pub fn authority(&self) -> &str {
        self.segments().next().unwrap_or_default()
    }

    /// The collection NSID, if the URI has a path.
    pub fn collection(&self) -> Option<&str> {
        self.segments().nth(1)
    }

    /// The record key, if the URI names a record.
    pub fn rkey(&self) -> Option<&str> {
        self.segments().nth(2)
    }

    fn segments(&self) -> std::str::Split<'_, char> {
        self.0.get(PREFIX.len()..).unwrap_or_default().split('/')
    }
}

fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 8192 bytes");
    }
    let Some(rest) = s.strip_prefix(PREFIX) else {
        return Err("must start with \"at://\"");
    };
    let mut segments = rest.split('/');
    let authority = segments.next().unwrap_or_default();
    if AtIdentifier::new(authority).is_err() {
        return Err("authority is not a valid DID or handle");
    }
    if let Some(collection) = segments.next()
        && Nsid::new(collection).is_err()
    {
        return Err(if collection.is_empty() {
            "empty path segment (trailing or double \"/\")"
        } else {
            "collection is not a valid NSID"
        });
    }
    if let Some(rkey) = segments.next()
        && RecordKey::new(rkey).is_err()
    {
        return Err(if rkey.is_empty() {
            "empty path segment (trailing or double \"/\")"
        } else {
            "record key is not valid"
        });
    }
    if segments.next().is_some() {
        return Err("too many path segments (only /collection/rkey allowed)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let uri = AtUri::new("at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a").expect("valid");
        assert_eq!(uri.authority(), "did:plc:abc");
        assert_eq!(uri.collection(), Some("app.bsky.feed.post"));
        assert_eq!(uri.rkey(), Some("3jzfcijpj2z2a"));
        let repo = AtUri::new("at://alice.test").expect("valid");
        assert_eq!(repo.authority(), "alice.test");
        assert_eq!(repo.collection(), None);
        assert_eq!(repo.rkey(), None);
        let coll = AtUri::new("at://alice.test/app.bsky.feed.post").expect("valid");
        assert_eq!(coll.collection(), Some("app.bsky.feed.post"));
        assert_eq!(coll.rkey(), None);
    }

    #[test]
    fn from_parts_builds_a_valid_uri() {
        let did = Did::new("did:plc:abc").expect("valid");
        let nsid = Nsid::new("app.bsky.feed.like").expect("valid");
        let rkey = RecordKey::new("self").expect("valid");
        let uri = AtUri::from_parts(&did, &nsid, &rkey);
        assert_eq!(uri.as_str(), "at://did:plc:abc/app.bsky.feed.like/self");
        assert_eq!(AtUri::new(uri.as_str()).expect("valid"), uri);
    }

    #[test]
    fn serde_round_trip_and_reasons() {
        let uri = AtUri::new("at://did:plc:abc/app.bsky.feed.post/x").expect("valid");
        let json = serde_json::to_string(&uri).expect("serializes");
        assert_eq!(serde_json::from_str::<AtUri>(&json).expect("deserializes"), uri);
        let reason = |s: &str| AtUri::new(s).expect_err("invalid").reason();
        assert_eq!(reason("at://did:plc:abc/"), "empty path segment (trailing or double \"/\")");
        assert_eq!(reason("at://did:plc:abc/short/x"), "collection is not a valid NSID");
        assert_eq!(reason("at://did:plc:abc/a.b.c/x/y"), "too many path segments (only /collection/rkey allowed)");
        assert_eq!(reason("at://name"), "authority is not a valid DID or handle");
    }
}
