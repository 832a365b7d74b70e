//! Reading a `social.coves.community.post` record leniently (COVES_API §2.4): only a
//! missing `community` or `author` refuses it; lengths are not enforced (Go-compatible).

use chrono::{DateTime, Utc};
use coves_plugin_api::syntax::{Did, parse_datetime_lenient};
use serde_json::Value;

/// The indexed fields of a post record.
#[derive(Debug, PartialEq)]
pub struct Post {
    /// `community` as written: normally the community's DID, possibly a handle.
    pub community: String,
    pub author: Did,
    pub title: Option<String>,
    pub content: Option<String>,
    pub facets: Option<Value>,
    pub embed: Option<Value>,
    pub langs: Vec<String>,
    pub tags: Vec<String>,
    pub labels: Option<Value>,
    /// `None` when absent or unparseable (the indexing time is used then).
    pub created_at: Option<DateTime<Utc>>,
}

/// Parses a post; `Err` says why the record is refused.
pub fn parse_post(record: &Value) -> Result<Post, String> {
    let object = record.as_object().ok_or("record is not a JSON object")?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let community = text("community")?.filter(|c| !c.trim().is_empty()).ok_or("`community` is required")?;
    let author = text("author")?.ok_or("`author` is required")?;
    let author = Did::new(author.as_str()).map_err(|e| format!("`author` is not a DID: {e}"))?;
    let strings = |key: &str| -> Vec<String> {
        object
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let present = |key: &str| object.get(key).filter(|v| !v.is_null()).cloned();
    Ok(Post {
        community: community.trim().to_owned(),
        author,
        title: text("title")?,
        content: text("content")?,
        facets: present("facets").filter(Value::is_array),
        embed: present("embed").filter(Value::is_object),
        langs: strings("langs"),
        tags: strings("tags"),
        labels: present("labels").filter(Value::is_object),
        created_at: text("createdAt").ok().flatten().and_then(|raw| parse_datetime_lenient(&raw)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_every_indexed_field() {
        let post = parse_post(&json!({
            "$type": "social.coves.community.post",
            "community": "did:plc:community234567abcdefghij",
            "author": "did:plc:author2345672abcdefghijk",
            "title": "Hello", "content": "First post.",
            "facets": [{"index": {"byteStart": 0, "byteEnd": 5}, "features": [{"$type": "social.coves.richtext.facet#bold"}]}],
            "embed": {"$type": "social.coves.embed.external", "external": {"uri": "https://example.com"}},
            "langs": ["en", 5], "tags": ["intro"],
            "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nsfw"}]},
            "createdAt": "2026-01-01T12:00:00+01:00"
        }))
        .expect("valid post");
        assert_eq!(post.community, "did:plc:community234567abcdefghij");
        assert_eq!(post.title.as_deref(), Some("Hello"));
        assert_eq!(post.langs, ["en"], "non-strings are dropped");
        assert!(post.facets.is_some() && post.embed.is_some() && post.labels.is_some());
        assert_eq!(post.created_at.map(|t| t.to_rfc3339()), Some("2026-01-01T11:00:00+00:00".to_owned()));
    }

    #[test]
    fn refuses_only_missing_identities() {
        let author = "did:plc:author2345672abcdefghijk";
        assert_eq!(parse_post(&json!({"author": author})), Err("`community` is required".to_owned()));
        assert_eq!(parse_post(&json!({"community": "did:plc:x"})), Err("`author` is required".to_owned()));
        assert!(parse_post(&json!({"community": "did:plc:x", "author": "alice"})).is_err());
        let lenient = parse_post(&json!({"community": "did:plc:x", "author": author, "createdAt": "soon"}));
        assert_eq!(lenient.expect("valid").created_at, None, "an unparseable createdAt is the indexing time");
    }
}
