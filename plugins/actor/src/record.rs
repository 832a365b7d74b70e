//! Reading a `social.coves.actor.profile` record leniently, as the contract asks.

use chrono::{DateTime, Utc};
use coves_plugin_api::syntax::parse_datetime_lenient;
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

const MAX_DISPLAY_NAME_GRAPHEMES: usize = 64;
const MAX_BIO_GRAPHEMES: usize = 256;

/// The indexed fields of a profile record.
#[derive(Debug, PartialEq)]
pub struct Profile {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_cid: Option<String>,
    pub banner_cid: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Parses a profile; `Err` says why the record is refused.
///
/// Lenient by design: `bio` or the Go AppView's `description`, an optional `createdAt`,
/// over-long text truncated at a grapheme boundary rather than refused.
pub fn parse_profile(record: &Value) -> Result<Profile, String> {
    let object = record.as_object().ok_or("record is not a JSON object")?;
    let text = |key: &str| -> Result<Option<&str>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let display_name = text("displayName")?.map(|s| truncate_graphemes(s, MAX_DISPLAY_NAME_GRAPHEMES));
    let bio = match text("bio")? {
        Some(bio) => Some(bio),
        None => text("description")?,
    }
    .map(|s| truncate_graphemes(s, MAX_BIO_GRAPHEMES));
    let created_at = match text("createdAt")? {
        Some(raw) => Some(parse_datetime_lenient(raw).ok_or_else(|| format!("`createdAt` {raw:?} is not a datetime"))?),
        None => None,
    };
    Ok(Profile {
        display_name: display_name.filter(|s| !s.is_empty()),
        bio: bio.filter(|s| !s.is_empty()),
        avatar_cid: blob_cid(object.get("avatar")),
        banner_cid: blob_cid(object.get("banner")),
        created_at,
    })
}

/// The CID of an atproto blob (`{"$type":"blob","ref":{"$link":cid},...}`); anything else
/// counts as absent.
fn blob_cid(value: Option<&Value>) -> Option<String> {
    let blob = value?.as_object()?;
    if blob.get("$type")?.as_str()? != "blob" {
        return None;
    }
    Some(blob.get("ref")?.get("$link")?.as_str()?.to_owned())
}

fn truncate_graphemes(s: &str, max: usize) -> String {
    match s.grapheme_indices(true).nth(max) {
        Some((cut, _)) => s[..cut].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_bio_or_description_and_blobs() {
        let profile = parse_profile(&json!({
            "$type": "social.coves.actor.profile",
            "displayName": "Alice",
            "description": "Go-style bio",
            "avatar": {"$type": "blob", "ref": {"$link": "bafkreiavatar"}, "mimeType": "image/png", "size": 10},
            "banner": {"ref": {"$link": "bafkreinotablob"}},
        }))
        .expect("valid profile");
        assert_eq!(profile.display_name.as_deref(), Some("Alice"));
        assert_eq!(profile.bio.as_deref(), Some("Go-style bio"));
        assert_eq!(profile.avatar_cid.as_deref(), Some("bafkreiavatar"));
        assert_eq!(profile.banner_cid, None, "a blob without $type counts as absent");
        assert_eq!(profile.created_at, None);
    }

    #[test]
    fn prefers_bio_and_truncates_at_grapheme_boundaries() {
        let long = "👩‍👩‍👧".repeat(300);
        let profile = parse_profile(&json!({"bio": long, "description": "ignored"})).expect("valid");
        let bio = profile.bio.expect("bio");
        assert_eq!(bio.graphemes(true).count(), 256);
        assert!(long.starts_with(&bio));
    }

    #[test]
    fn refuses_wrong_types_with_a_reason() {
        assert_eq!(parse_profile(&json!({"displayName": 5})), Err("`displayName` must be a string".to_owned()));
        assert!(parse_profile(&json!("nope")).is_err());
        assert!(parse_profile(&json!({"createdAt": "yesterday"})).is_err());
    }
}
