//! Reading a `social.coves.community.profile` record leniently (COVES_API §2.0, §2.6).
//!
//! Only three rules refuse a record: a missing or over-long `name`, a `createdBy` that is
//! not a DID, and a `hostedBy` that is not a `did:web`. Everything else is read when it
//! has the expected shape and treated as absent otherwise; `categories`, `rules`,
//! `language`, `owner`, `handle` and record-supplied counters are ignored.

use chrono::{DateTime, Utc};
use coves_plugin_api::syntax::{Did, parse_datetime_lenient};
use serde_json::{Map, Value};

/// Longest `name` (bytes), from the lexicon.
const MAX_NAME_BYTES: usize = 64;
/// Longest `visibility` / `moderationType` value kept (bytes), from the lexicon.
const MAX_KNOWN_VALUE_BYTES: usize = 64;

/// The indexed fields of a community profile.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityProfile {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub description_facets: Option<Value>,
    pub avatar_cid: Option<String>,
    pub banner_cid: Option<String>,
    pub created_by: String,
    pub hosted_by: String,
    pub visibility: String,
    pub moderation_type: String,
    pub content_warnings: Vec<String>,
    pub allow_external_discovery: bool,
    /// `None` when absent or unparseable: the caller uses the event time.
    pub created_at: Option<DateTime<Utc>>,
}

/// Parses a profile record; `Err` says why it is refused.
pub fn parse_profile(record: &Value) -> Result<CommunityProfile, String> {
    let object = record.as_object().ok_or("record is not a JSON object")?;
    let name = match object.get("name") {
        Some(Value::String(name)) if name.is_empty() => return Err("`name` is empty".into()),
        Some(Value::String(name)) if name.len() > MAX_NAME_BYTES => {
            return Err(format!("`name` is {} bytes long; at most {MAX_NAME_BYTES} are allowed", name.len()));
        }
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err("`name` must be a string".into()),
        None => return Err("`name` is required".into()),
    };
    let created_by = did_field(object, "createdBy")?;
    let hosted_by = did_field(object, "hostedBy")?;
    if !hosted_by.starts_with("did:web:") {
        return Err(format!("`hostedBy` {hosted_by:?} must be a did:web (the hosting instance)"));
    }
    let allow_external_discovery =
        object.get("federation").and_then(|f| f.get("allowExternalDiscovery")).and_then(Value::as_bool).unwrap_or(true);
    Ok(CommunityProfile {
        name,
        display_name: text(object, "displayName"),
        description: text(object, "description"),
        description_facets: object.get("descriptionFacets").filter(|f| f.is_array()).cloned(),
        avatar_cid: blob_cid(object.get("avatar")),
        banner_cid: blob_cid(object.get("banner")),
        created_by,
        hosted_by,
        visibility: known_value(object, "visibility").unwrap_or_else(|| "public".to_owned()),
        moderation_type: known_value(object, "moderationType").unwrap_or_else(|| "moderator".to_owned()),
        content_warnings: object
            .get("contentWarnings")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        allow_external_discovery,
        created_at: object.get("createdAt").and_then(Value::as_str).and_then(parse_datetime_lenient),
    })
}

fn did_field(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    match object.get(key) {
        Some(Value::String(raw)) => {
            Did::new(raw.as_str()).map(String::from).map_err(|e| format!("`{key}` {raw:?} is not a DID ({e})"))
        }
        Some(_) => Err(format!("`{key}` must be a string (a DID)")),
        None => Err(format!("`{key}` is required")),
    }
}

/// An optional, non-empty string; other shapes count as absent.
fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn known_value(object: &Map<String, Value>, key: &str) -> Option<String> {
    text(object, key).filter(|s| s.len() <= MAX_KNOWN_VALUE_BYTES)
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "$type": "social.coves.community.profile",
            "name": "gaming",
            "createdBy": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            "hostedBy": "did:web:coves.social",
            "createdAt": "2026-01-01T12:00:00+01:00",
        })
    }

    #[test]
    fn reads_a_full_record_and_ignores_removed_keys() {
        let record = json!({
            "$type": "social.coves.community.profile",
            "name": "gaming",
            "displayName": "Gaming",
            "description": "Games, mostly.",
            "descriptionFacets": [{"index": {"byteStart": 0, "byteEnd": 5}, "features": [{"$type": "social.coves.richtext.facet#bold"}]}],
            "avatar": {"$type": "blob", "ref": {"$link": "bafkreiavatar"}, "mimeType": "image/png", "size": 10},
            "banner": {"ref": {"$link": "bafkreinotablob"}},
            "createdBy": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            "hostedBy": "did:web:coves.social",
            "visibility": "unlisted",
            "moderationType": "sortition",
            "contentWarnings": ["nsfw", 3, "spoilers"],
            "federation": {"allowExternalDiscovery": false},
            "categories": ["games"],
            "rules": ["be kind"],
            "handle": "c-evil.example.com",
            "memberCount": 1000,
            "createdAt": "2026-01-01T12:00:00.5Z",
        });
        let profile = parse_profile(&record).expect("valid");
        assert_eq!(profile.name, "gaming");
        assert_eq!(profile.display_name.as_deref(), Some("Gaming"));
        assert_eq!(profile.description.as_deref(), Some("Games, mostly."));
        assert!(profile.description_facets.is_some_and(|f| f.as_array().is_some_and(|a| a.len() == 1)));
        assert_eq!(profile.avatar_cid.as_deref(), Some("bafkreiavatar"));
        assert_eq!(profile.banner_cid, None, "a blob without $type counts as absent");
        assert_eq!(profile.visibility, "unlisted");
        assert_eq!(profile.moderation_type, "sortition");
        assert_eq!(profile.content_warnings, ["nsfw", "spoilers"]);
        assert!(!profile.allow_external_discovery);
        let expected =
            Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().expect("exists") + chrono::Duration::milliseconds(500);
        assert_eq!(profile.created_at, Some(expected));
    }

    #[test]
    fn defaults_for_a_minimal_record() {
        let profile = parse_profile(&minimal()).expect("valid");
        assert_eq!(profile.visibility, "public");
        assert_eq!(profile.moderation_type, "moderator");
        assert!(profile.allow_external_discovery);
        assert!(profile.content_warnings.is_empty());
        assert_eq!(profile.created_at, Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).single());
    }

    #[test]
    fn lenient_about_optional_fields() {
        let mut record = minimal();
        record["displayName"] = json!(5);
        record["descriptionFacets"] = json!("not an array");
        record["createdAt"] = json!("yesterday");
        record["visibility"] = json!("");
        let profile = parse_profile(&record).expect("still valid");
        assert_eq!(profile.display_name, None);
        assert_eq!(profile.description_facets, None);
        assert_eq!(profile.created_at, None, "the caller falls back to the event time");
        assert_eq!(profile.visibility, "public");
        let mut record = minimal();
        record.as_object_mut().expect("object").remove("createdAt");
        assert_eq!(parse_profile(&record).expect("valid").created_at, None);
    }

    #[test]
    fn refuses_what_the_contract_refuses() {
        let refused = |change: fn(&mut Value)| {
            let mut record = minimal();
            change(&mut record);
            parse_profile(&record).expect_err("refused")
        };
        assert!(refused(|r| r["name"] = json!("")).contains("`name` is empty"));
        assert!(refused(|r| r["name"] = json!("x".repeat(65))).contains("at most 64"));
        assert!(refused(|r| r["name"] = json!(1)).contains("`name` must be a string"));
        assert!(
            refused(|r| {
                r.as_object_mut().expect("object").remove("name");
            })
            .contains("`name` is required")
        );
        assert!(refused(|r| r["createdBy"] = json!("alice.example.com")).contains("`createdBy`"));
        assert!(
            refused(|r| {
                r.as_object_mut().expect("object").remove("createdBy");
            })
            .contains("`createdBy` is required")
        );
        assert!(refused(|r| r["hostedBy"] = json!("did:plc:ewvi7nxzyoun6zhxrhs64oiz")).contains("must be a did:web"));
        assert!(refused(|r| r["hostedBy"] = json!("coves.social")).contains("not a DID"));
        assert!(parse_profile(&json!([])).is_err());
        assert!(
            parse_profile(&json!({"name": "x".repeat(64), "createdBy": "did:plc:a", "hostedBy": "did:web:a.b"}))
                .is_ok()
        );
    }
}
