//! What a subscriber asked for: the `/subscribe` query, `options_update` messages, and
//! whether an event matches.
//!
//! Validation and limits follow Jetstream v1's `parseSubscriberOptions`: at most 100
//! wanted collections (exact NSIDs or `prefix.*` patterns) and 10,000 wanted DIDs, each
//! syntactically valid.

use std::borrow::Cow;
use std::collections::HashSet;

use axum::http::HeaderMap;
use coves_plugin_api::syntax::{Did, Nsid};
use serde::Deserialize;

/// Most `wantedCollections` a subscriber may give (Jetstream's limit).
pub const MAX_WANTED_COLLECTIONS: usize = 100;

/// Most `wantedDids` a subscriber may give (Jetstream's limit).
pub const MAX_WANTED_DIDS: usize = 10_000;

/// Why subscriber options were refused; the text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOptions {
    /// `cursor` is not an integer.
    #[error("invalid cursor: {0}")]
    Cursor(String),
    /// A `wantedCollections` entry is neither an NSID nor an NSID prefix ending in `.*`.
    #[error("invalid subscriber options: invalid collection: {0}")]
    Collection(String),
    /// A `wantedDids` entry is not a DID.
    #[error("invalid subscriber options: invalid DID: {0}")]
    Did(String),
    /// More than [`MAX_WANTED_COLLECTIONS`].
    #[error("invalid subscriber options: too many wanted collections")]
    TooManyCollections,
    /// More than [`MAX_WANTED_DIDS`].
    #[error("invalid subscriber options: too many wanted DIDs")]
    TooManyDids,
    /// A client message that is not a well-formed `options_update`.
    #[error("{0}")]
    Message(String),
}

/// The parts of an event the filter looks at, borrowed from the JSON line.
///
/// `Cow` rather than `&str` because a JSON string with escapes cannot be borrowed.
#[derive(Debug, Default, Deserialize)]
pub struct Envelope<'a> {
    /// The repository or account the event is about.
    #[serde(borrow, default)]
    pub did: Option<Cow<'a, str>>,
    /// `commit`, `identity` or `account`.
    #[serde(borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    /// Present on commit events.
    #[serde(borrow, default)]
    pub commit: Option<CommitEnvelope<'a>>,
}

/// The commit part of an [`Envelope`].
#[derive(Debug, Default, Deserialize)]
pub struct CommitEnvelope<'a> {
    /// The record collection (NSID).
    #[serde(borrow, default)]
    pub collection: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    /// Reads the envelope of one JSON line; `None` when the line is not a JSON object.
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(line).ok()
    }

    /// The collection the collection filter applies to: only commits have one, so
    /// identity and account events always pass it (as in Jetstream).
    fn collection(&self) -> Option<&str> {
        if self.kind.as_deref() != Some("commit") {
            return None;
        }
        self.commit.as_ref().and_then(|c| c.collection.as_deref())
    }
}

/// `wantedCollections`: exact NSIDs and `prefix.*` patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct WantedCollections {
    exact: HashSet<String>,
    /// Prefixes keep their trailing `.`, so `social.coves.*` does not match `social.covesx.a`.
    prefixes: Vec<String>,
}

impl WantedCollections {
    fn matches(&self, collection: &str) -> bool {
        self.exact.contains(collection) || self.prefixes.iter().any(|p| collection.starts_with(p.as_str()))
    }
}

/// The filter that an `options_update` may replace: collections, DIDs and size limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `None` = every collection.
    collections: Option<WantedCollections>,
    /// Empty = every DID.
    dids: HashSet<String>,
    /// Largest message to send, in bytes as sent (compressed when compressing); 0 = no limit.
    max_message_size: u32,
}

impl Filter {
    /// Validates the wanted collections and DIDs the way Jetstream does.
    pub fn new(
        collections: &[impl AsRef<str>],
        dids: &[impl AsRef<str>],
        max_message_size: u32,
    ) -> Result<Self, InvalidOptions> {
        let collections = if collections.is_empty() {
            None
        } else {
            let mut wanted = WantedCollections::default();
            for pattern in collections.iter().map(AsRef::as_ref) {
                if let Some(prefix) = pattern.strip_suffix('*') {
                    if !valid_prefix(prefix) {
                        return Err(InvalidOptions::Collection(pattern.to_owned()));
                    }
                    if !wanted.prefixes.iter().any(|p| p == prefix) {
                        wanted.prefixes.push(prefix.to_owned());
                    }
                } else {
                    let nsid: Nsid = pattern.parse().map_err(|_| InvalidOptions::Collection(pattern.to_owned()))?;
                    wanted.exact.insert(nsid.into_inner());
                }
            }
            // Counted after de-duplication, as Jetstream counts its sets.
            if wanted.exact.len() + wanted.prefixes.len() > MAX_WANTED_COLLECTIONS {
                return Err(InvalidOptions::TooManyCollections);
            }
            Some(wanted)
        };
        let mut wanted_dids = HashSet::with_capacity(dids.len().min(MAX_WANTED_DIDS + 1));
        for did in dids.iter().map(AsRef::as_ref) {
            let did: Did = did.parse().map_err(|_| InvalidOptions::Did(did.to_owned()))?;
            wanted_dids.insert(did.into_inner());
        }
        if wanted_dids.len() > MAX_WANTED_DIDS {
            return Err(InvalidOptions::TooManyDids);
        }
        Ok(Self { collections, dids: wanted_dids, max_message_size })
    }

    /// Whether the event passes the collection and DID filters. A line whose envelope
    /// could not be read has neither, so it only passes when no DID filter is set.
    pub fn wants(&self, envelope: Option<&Envelope<'_>>) -> bool {
        let collection = envelope.and_then(Envelope::collection);
        if let (Some(wanted), Some(collection)) = (&self.collections, collection)
            && !wanted.matches(collection)
        {
            return false;
        }
        if self.dids.is_empty() {
            return true;
        }
        envelope.and_then(|e| e.did.as_deref()).is_some_and(|did| self.dids.contains(did))
    }

    /// Whether a message of `len` bytes (as sent) is within `maxMessageSizeBytes`.
    pub fn fits(&self, len: usize) -> bool {
        self.max_message_size == 0 || len <= self.max_message_size as usize
    }
}

/// A `prefix.*` pattern is valid when the prefix (with its final `.`) could begin an
/// NSID: completing it with two more segments must give a valid NSID. Jetstream itself
/// accepts any prefix; refusing nonsense here catches client bugs early.
fn valid_prefix(prefix: &str) -> bool {
    prefix.ends_with('.') && format!("{prefix}a.b").parse::<Nsid>().is_ok()
}

/// Everything a `/subscribe` request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The initial filter (replaced by `options_update`).
    pub filter: Filter,
    /// Start at the first event with `time_us >= cursor`; `None` = start of the file.
    pub cursor: Option<i64>,
    /// Send zstd frames as binary messages instead of JSON text.
    pub compress: bool,
    /// Send nothing until the client's first valid `options_update`.
    pub require_hello: bool,
}

impl Subscription {
    /// Reads the query string (without `?`) and headers of a `/subscribe` request.
    pub fn parse(query: &str, headers: &HeaderMap) -> Result<Self, InvalidOptions> {
        let mut collections = Vec::new();
        let mut dids = Vec::new();
        let (mut cursor, mut compress, mut require_hello, mut max_size) = (None, None, None, None);
        // Repeated keys accumulate; for single-valued keys the first wins, like Go's `Query().Get`.
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "wantedCollections" => collections.push(value.into_owned()),
                "wantedDids" => dids.push(value.into_owned()),
                "cursor" if cursor.is_none() => cursor = Some(value.into_owned()),
                "compress" if compress.is_none() => compress = Some(value.into_owned()),
                "requireHello" if require_hello.is_none() => require_hello = Some(value.into_owned()),
                "maxMessageSizeBytes" if max_size.is_none() => max_size = Some(value.into_owned()),
                _ => {}
            }
        }
        let cursor = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| InvalidOptions::Cursor(c))?),
        };
        let zstd_header =
            headers.get_all("socket-encoding").iter().any(|v| v.to_str().is_ok_and(|v| v.contains("zstd")));
        let compress = zstd_header || compress.as_deref() == Some("true");
        let max_size = max_size.map_or(0, |s| lenient_size(s.parse::<i64>().unwrap_or(0)));
        Ok(Self {
            filter: Filter::new(&collections, &dids, max_size)?,
            cursor,
            compress,
            require_hello: require_hello.as_deref() == Some("true"),
        })
    }
}

/// Jetstream treats a negative or unreadable size as "no limit" (0).
fn lenient_size(size: i64) -> u32 {
    u32::try_from(size.max(0)).unwrap_or(u32::MAX)
}

/// A message a subscriber may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `options_update`: the new filter.
    OptionsUpdate(Filter),
    /// Any other `type`; Jetstream logs and ignores it.
    Other(String),
}

#[derive(Deserialize)]
struct RawClientMessage {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OptionsUpdatePayload {
    #[serde(rename = "wantedCollections", default)]
    wanted_collections: Option<Vec<String>>,
    #[serde(rename = "wantedDids", default)]
    wanted_dids: Option<Vec<String>>,
    #[serde(rename = "maxMessageSizeBytes", default)]
    max_message_size_bytes: Option<i64>,
}

impl ClientMessage {
    /// Reads a text message from the subscriber. An error means Jetstream would close
    /// the socket, with the error's text as the reason.
    pub fn parse(text: &str) -> Result<Self, InvalidOptions> {
        let message: RawClientMessage = serde_json::from_str(text)
            .map_err(|e| InvalidOptions::Message(format!("failed to unmarshal subscriber sourced message: {e}")))?;
        if message.kind != "options_update" {
            return Ok(Self::Other(message.kind));
        }
        // A missing (or null) payload is refused: there is nothing to update to.
        let payload = message.payload.unwrap_or(serde_json::Value::Null);
        let update: OptionsUpdatePayload = serde_json::from_value(payload)
            .map_err(|e| InvalidOptions::Message(format!("failed to unmarshal subscriber options update: {e}")))?;
        let filter = Filter::new(
            &update.wanted_collections.unwrap_or_default(),
            &update.wanted_dids.unwrap_or_default(),
            lenient_size(update.max_message_size_bytes.unwrap_or(0)),
        )
        .map_err(|e| InvalidOptions::Message(format!("failed to parse subscriber options: {e}")))?;
        Ok(Self::OptionsUpdate(filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(line: &str) -> Envelope<'_> {
        Envelope::parse(line.as_bytes()).expect("envelope")
    }

    const VOTE: &str = r#"{"did":"did:plc:a","time_us":1,"kind":"commit","commit":{"collection":"social.coves.feed.vote","record":{"x":[1,{"y":"z"}]}}}"#;
    const LIKE: &str =
        r#"{"did":"did:plc:b","time_us":2,"kind":"commit","commit":{"collection":"app.bsky.feed.like"}}"#;
    const IDENTITY: &str = r#"{"did":"did:plc:b","time_us":3,"kind":"identity","identity":{"did":"did:plc:b"}}"#;

    #[test]
    fn matches_exact_prefix_and_non_commits() {
        let filter = Filter::new(&["social.coves.*"], &[] as &[&str], 0).expect("valid");
        assert!(filter.wants(Some(&envelope(VOTE))));
        assert!(!filter.wants(Some(&envelope(LIKE))));
        assert!(filter.wants(Some(&envelope(IDENTITY))));
        let exact = Filter::new(&["app.bsky.feed.like"], &[] as &[&str], 0).expect("valid");
        assert!(!exact.wants(Some(&envelope(VOTE))));
        assert!(exact.wants(Some(&envelope(LIKE))));
        let not_a_prefix = Filter::new(&["social.cove.*"], &[] as &[&str], 0).expect("valid");
        assert!(!not_a_prefix.wants(Some(&envelope(VOTE))));
    }

    #[test]
    fn matches_dids_and_unreadable_lines() {
        let filter = Filter::new(&[] as &[&str], &["did:plc:b"], 0).expect("valid");
        assert!(!filter.wants(Some(&envelope(VOTE))));
        assert!(filter.wants(Some(&envelope(LIKE))));
        assert!(filter.wants(Some(&envelope(IDENTITY))));
        assert!(!filter.wants(None));
        assert!(Filter::default().wants(None));
    }

    #[test]
    fn validates_like_jetstream() {
        let none: &[&str] = &[];
        assert!(matches!(Filter::new(&["*"], none, 0), Err(InvalidOptions::Collection(_))));
        assert!(matches!(Filter::new(&[".*"], none, 0), Err(InvalidOptions::Collection(_))));
        assert!(matches!(Filter::new(&["social..*"], none, 0), Err(InvalidOptions::Collection(_))));
        assert!(matches!(Filter::new(&["social"], none, 0), Err(InvalidOptions::Collection(_))));
        assert!(matches!(Filter::new(&[""], none, 0), Err(InvalidOptions::Collection(_))));
        assert!(Filter::new(&["app.*", "a.b.c"], none, 0).is_ok());
        assert!(matches!(Filter::new(none, &["did:PLC:x"], 0), Err(InvalidOptions::Did(_))));
        let many: Vec<String> = (0..101).map(|i| format!("com.example.c{i}")).collect();
        assert_eq!(Filter::new(&many, none, 0), Err(InvalidOptions::TooManyCollections));
        assert!(Filter::new(&many[..100], none, 0).is_ok());
        let dids: Vec<String> = (0..10_001).map(|i| format!("did:plc:{i}")).collect();
        assert_eq!(Filter::new(none, &dids, 0), Err(InvalidOptions::TooManyDids));
    }

    #[test]
    fn parses_the_query() {
        let mut headers = HeaderMap::new();
        let sub = Subscription::parse(
            "wantedCollections=social.coves.*&wantedCollections=app.bsky.feed.like&cursor=5&requireHello=true&maxMessageSizeBytes=-3",
            &headers,
        )
        .expect("valid");
        assert_eq!(sub.cursor, Some(5));
        assert!(sub.require_hello && !sub.compress);
        assert_eq!(sub.filter.max_message_size, 0);
        assert!(matches!(Subscription::parse("cursor=abc", &headers), Err(InvalidOptions::Cursor(_))));
        assert!(Subscription::parse("compress=true", &headers).expect("valid").compress);
        assert!(!Subscription::parse("compress=1", &headers).expect("valid").compress);
        headers.insert("Socket-Encoding", "zstd".parse().expect("header"));
        assert!(Subscription::parse("", &headers).expect("valid").compress);
    }

    #[test]
    fn parses_client_messages() {
        let update = ClientMessage::parse(
            r#"{"type":"options_update","payload":{"wantedCollections":["app.bsky.feed.like"],"maxMessageSizeBytes":10}}"#,
        )
        .expect("valid");
        let ClientMessage::OptionsUpdate(filter) = update else { panic!("not an update") };
        assert!(filter.wants(Some(&envelope(LIKE))) && !filter.wants(Some(&envelope(VOTE))));
        assert!(!filter.fits(11) && filter.fits(10));
        assert_eq!(ClientMessage::parse(r#"{"type":"hello"}"#), Ok(ClientMessage::Other("hello".into())));
        assert!(ClientMessage::parse("not json").is_err());
        assert!(ClientMessage::parse(r#"{"type":"options_update"}"#).is_err());
        assert!(ClientMessage::parse(r#"{"type":"options_update","payload":{"wantedDids":["x"]}}"#).is_err());
    }
}
