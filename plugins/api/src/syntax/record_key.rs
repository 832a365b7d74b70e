//! Record keys (<https://atproto.com/specs/record-key>).

use std::sync::LazyLock;

use regex::Regex;

static RECORD_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9._:~-]{1,512}$").expect("static regex is valid"));

/// A record key such as `3jzfcijpj2z2a` or `self`: names a record within a collection.
///
/// Syntax: 1–512 characters of `[A-Za-z0-9._:~-]`, but not `.` or `..` (they would be
/// path traversal in an AT-URI). Case-sensitive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(String);

string_newtype!(RecordKey, "record key", validate);

fn validate(s: &str) -> Result<(), &'static str> {
    if s == "." || s == ".." {
        return Err("\".\" and \"..\" are not allowed");
    }
    if !RECORD_KEY.is_match(s) {
        return Err("must be 1-512 characters of [A-Za-z0-9._:~-]");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip() {
        let rkey = RecordKey::new("self").expect("valid");
        let json = serde_json::to_string(&rkey).expect("serializes");
        assert_eq!(json, r#""self""#);
        assert_eq!(serde_json::from_str::<RecordKey>(&json).expect("deserializes"), rkey);
        let err = serde_json::from_str::<RecordKey>(r#""..""#).expect_err("invalid");
        assert!(err.to_string().contains("record key"), "{err}");
    }

    #[test]
    fn length_limits() {
        assert!(RecordKey::new("o".repeat(512)).is_ok());
        assert!(RecordKey::new("o".repeat(513)).is_err());
        assert!(RecordKey::new("").is_err());
    }
}
