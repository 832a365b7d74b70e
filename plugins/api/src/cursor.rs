//! Opaque keyset cursors for paginated lists (COVES_API §4.0), shared by GraphQL and XRPC.
//!
//! A cursor is the base64url (unpadded) encoding of `{"v":1,"s":<scope>,"k":<keys>}`:
//!
//! * `v`, the format version: a cursor from another version is refused, never misread;
//! * `s`, the scope it was issued for: the sort, plus anything else that changes the order
//!   (a search query, a timeframe, a reference time). A cursor presented with another
//!   scope is refused;
//! * `k`, the last item's sort keys ending with a unique tiebreaker (a DID or URI), in
//!   whatever shape the list chooses (usually a JSON array).
//!
//! The next page continues strictly after `k` (keyset, no offsets), so pages neither skip
//! nor repeat items whose keys did not change between requests. Fetch `limit + 1` rows and
//! pass them to [`split_page`] to learn whether a next page exists, so `cursor` can be
//! omitted on the last page. Every refusal is 400 `InvalidCursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The cursor format written by [`encode`].
pub const VERSION: u32 = 1;

/// Longest cursor [`decode`] looks at; real cursors are far shorter.
const MAX_LEN: usize = 4096;

#[derive(Serialize)]
struct Written<'a, K> {
    v: u32,
    s: &'a str,
    k: &'a K,
}

#[derive(serde::Deserialize)]
struct Read {
    v: u32,
    s: String,
    k: serde_json::Value,
}

/// Encodes the position after an item with sort keys `keys`, for lists of `scope`.
pub fn encode<K: Serialize>(scope: &str, keys: &K) -> String {
    // Serializing plain keys (numbers, strings, arrays of them) cannot fail; should a
    // caller pass something that does, the cursor is empty and decoding refuses it.
    let json = serde_json::to_vec(&Written { v: VERSION, s: scope, k: keys }).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor issued by [`encode`] for the same `scope`; 400 `InvalidCursor` when it
/// is undecodable, of another version or scope, or its keys are not of type `K`.
pub fn decode<K: DeserializeOwned>(raw: &str, scope: &str) -> Result<K, ApiError> {
    let invalid = |why: &str| {
        ApiError::invalid_cursor(format!(
            "cursor {why}; pass back the cursor of the previous page unchanged, with the same sort and filters, or omit it to start over"
        ))
    };
    if raw.len() > MAX_LEN {
        return Err(invalid("is too long"));
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| invalid("is not one this server issued"))?;
    let read: Read = serde_json::from_slice(&bytes).map_err(|_| invalid("is not one this server issued"))?;
    if read.v != VERSION {
        return Err(invalid("comes from another version of this server"));
    }
    if read.s != scope {
        return Err(invalid("belongs to another sort or query"));
    }
    serde_json::from_value(read.k).map_err(|_| invalid("is not one this server issued"))
}

/// A listed item and the cursor of the position just after it.
#[derive(Clone, Debug)]
pub struct Listed<T> {
    pub item: T,
    pub cursor: String,
}

/// One page of a keyset-paginated list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<Listed<T>>,
    /// Whether more items follow the last one.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// A page with nothing on it (and nothing after).
    pub fn empty() -> Self {
        Self { items: Vec::new(), has_more: false }
    }

    /// The cursor to continue with; `None` on the last page (XRPC omits `cursor` there).
    pub fn next_cursor(&self) -> Option<&str> {
        if self.has_more { self.items.last().map(|i| i.cursor.as_str()) } else { None }
    }
}

/// Splits `limit + 1` fetched rows into the page (`limit` rows at most) and whether more
/// follow.
pub fn split_page<T>(mut rows: Vec<T>, limit: usize) -> (Vec<T>, bool) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_scope() {
        let keys = (42_i64, "did:plc:abc".to_owned());
        let cursor = encode("popular", &keys);
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
        assert_eq!(decode::<(i64, String)>(&cursor, "popular").expect("decodes"), keys);
    }

    #[test]
    fn refuses_other_scopes_versions_and_garbage() {
        let cursor = encode("popular", &(1_i64, "did:plc:abc"));
        let error = decode::<(i64, String)>(&cursor, "new").expect_err("other scope");
        assert_eq!((error.status, error.name.as_ref()), (400, "InvalidCursor"));
        assert!(error.message.contains("another sort"), "{}", error.message);

        let old = URL_SAFE_NO_PAD.encode(br#"{"v":0,"s":"popular","k":[1,"did:plc:abc"]}"#);
        assert!(decode::<(i64, String)>(&old, "popular").expect_err("old").message.contains("another version"));

        for garbage in ["", "!!!", "bm90IGpzb24", &"a".repeat(5000)] {
            assert_eq!(decode::<(i64, String)>(garbage, "popular").expect_err(garbage).name, "InvalidCursor");
        }
        // Well-formed, but keys of the wrong shape.
        let wrong = encode("popular", &("x", "y"));
        assert_eq!(decode::<(i64, String)>(&wrong, "popular").expect_err("wrong keys").name, "InvalidCursor");
    }

    #[test]
    fn floats_survive_the_round_trip_exactly() {
        let keys = (0.123_456_79_f32, 7_i64);
        assert_eq!(decode::<(f32, i64)>(&encode("relevance", &keys), "relevance").expect("decodes"), keys);
    }

    #[test]
    fn split_page_reports_more() {
        assert_eq!(split_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split_page(vec![1, 2], 2), (vec![1, 2], false));
        assert_eq!(split_page(Vec::<i32>::new(), 2), (vec![], false));
    }
}
