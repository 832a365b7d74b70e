//! `com.atproto.repo.strongRef`.

use serde::{Deserialize, Serialize};

use super::{AtUri, Cid};

/// A reference to one exact version of a record: its URI plus the CID of its content
/// (the `com.atproto.repo.strongRef` lexicon). Used for replies, likes, reposts, ...
///
/// Deserializing ignores an optional `$type` field; serializing omits it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StrongRef {
    /// The record's AT-URI.
    pub uri: AtUri,
    /// The CID of the referenced record version.
    pub cid: Cid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip() {
        let json = r#"{"$type":"com.atproto.repo.strongRef","uri":"at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a","cid":"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"}"#;
        let parsed: StrongRef = serde_json::from_str(json).expect("deserializes");
        assert_eq!(parsed.uri.rkey(), Some("3jzfcijpj2z2a"));
        let back = serde_json::to_value(&parsed).expect("serializes");
        assert_eq!(
            back,
            serde_json::json!({
                "uri": "at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a",
                "cid": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
            })
        );
        let err = serde_json::from_str::<StrongRef>(r#"{"uri":"at://x","cid":"bafy"}"#).expect_err("invalid");
        assert!(err.to_string().contains("invalid AT-URI"), "{err}");
    }
}
