//! CID strings (<https://atproto.com/specs/data-model>).

use std::sync::LazyLock;

use regex::Regex;

static CID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9+=]{8,256}$").expect("static regex is valid"));

/// A content identifier in string form, such as
/// `bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a`.
///
/// Only the loose string syntax is checked (as the atproto reference implementations
/// do): 8–256 characters of `[a-zA-Z0-9+=]`. Legacy CIDv0 strings (base58 `Qm...`) are
/// rejected because atproto only uses CIDv1. The multibase/multihash content is not
/// decoded.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cid(String);

string_newtype!(Cid, "CID", validate);

fn validate(s: &str) -> Result<(), &'static str> {
    if !CID.is_match(s) {
        return Err("must be 8-256 characters of [a-zA-Z0-9+=]");
    }
    // No multibase prefix is `Q`: a leading `Qm` is always a CIDv0 (base58btc sha2-256).
    if s.starts_with("Qm") {
        return Err("CIDv0 is not supported");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip() {
        let cid = Cid::new("bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a").expect("valid");
        let json = serde_json::to_string(&cid).expect("serializes");
        assert_eq!(serde_json::from_str::<Cid>(&json).expect("deserializes"), cid);
        let err = Cid::new("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR").expect_err("v0");
        assert_eq!(err.reason(), "CIDv0 is not supported");
    }
}
