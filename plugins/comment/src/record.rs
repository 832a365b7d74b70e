//! Reading a `social.coves.community.comment` record leniently (COVES_API §2.5): only a
//! malformed `reply`, a missing, empty or over-long `content` and a missing `createdAt`
//! refuse it. Unknown keys stay in the stored record.

use chrono::{DateTime, Utc};
use coves_plugin_api::syntax::{AtUri, Did, parse_datetime_lenient};
use serde_json::{Map, Value};

/// The content limit enforced on ingest: the lexicon's 30000 bytes (its 3000-grapheme
/// limit is not enforced, so every comment the Go AppView indexed stays valid).
pub const MAX_CONTENT_BYTES: usize = 30_000;

/// A strongRef of `reply`: a well-formed record URI naming its repo by DID, and a CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub uri: String,
    pub cid: String,
}

/// The indexed fields of a comment record.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The post at the top of the thread.
    pub root: Ref,
    /// The post or comment replied to.
    pub parent: Ref,
    pub content: String,
    pub facets: Option<Value>,
    pub embed: Option<Value>,
    pub langs: Vec<String>,
    pub labels: Option<Value>,
    /// `None` when unparseable (the event time is used then).
    pub created_at: Option<DateTime<Utc>>,
}

/// Parses a comment; `Err` says why the record is refused.
pub fn parse_comment(record: &Value) -> Result<Comment, String> {
    let object = record.as_object().ok_or("record is not a JSON object")?;
    let reply = object.get("reply").and_then(Value::as_object).ok_or("`reply` is required")?;
    let root = reply_ref(reply, "root")?;
    let parent = reply_ref(reply, "parent")?;
    let content = match object.get("content") {
        Some(Value::String(content)) => content,
        None | Some(Value::Null) => return Err("`content` is required".into()),
        Some(_) => return Err("`content` must be a string".into()),
    };
    if content.is_empty() {
        return Err("`content` is empty".into());
    }
    if content.len() > MAX_CONTENT_BYTES {
        return Err(format!("`content` is {} bytes, over the {MAX_CONTENT_BYTES}-byte limit", content.len()));
    }
    let created_at = match object.get("createdAt") {
        Some(Value::String(raw)) if !raw.is_empty() => parse_datetime_lenient(raw),
        _ => return Err("`createdAt` is required".into()),
    };
    let present = |key: &str| object.get(key).filter(|v| !v.is_null()).cloned();
    Ok(Comment {
        root,
        parent,
        content: content.clone(),
        facets: present("facets").filter(Value::is_array),
        embed: present("embed").filter(Value::is_object),
        langs: object
            .get("langs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        labels: present("labels").filter(Value::is_object),
        created_at,
    })
}

/// `reply.<key>`: a strongRef with a non-empty CID and an `at://did:…/collection/rkey` URI.
fn reply_ref(reply: &Map<String, Value>, key: &str) -> Result<Ref, String> {
    let value = reply.get(key).and_then(Value::as_object).ok_or_else(|| format!("`reply.{key}` is required"))?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("`reply.{key}.{name}` is required"))
    };
    let (uri, cid) = (field("uri")?, field("cid")?);
    let parsed: AtUri = uri.parse().map_err(|e| format!("`reply.{key}.uri`: {e}"))?;
    if Did::new(parsed.authority()).is_err() {
        return Err(format!("`reply.{key}.uri` {uri:?} must name its repo by DID"));
    }
    if parsed.rkey().is_none() {
        return Err(format!("`reply.{key}.uri` {uri:?} must name a record (at://did/collection/rkey)"));
    }
    Ok(Ref { uri: uri.to_owned(), cid: cid.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const POST: &str = "at://did:plc:community234567abcdefghij/social.coves.community.post/3kpost0000001";
    const PARENT: &str = "at://did:plc:alice234567abcdefghijkl/social.coves.community.comment/3kcomm0000001";

    fn comment(reply: Value, content: Value) -> Value {
        json!({"$type": "social.coves.community.comment", "reply": reply, "content": content,
               "createdAt": "2026-01-01T12:00:00+01:00"})
    }

    fn reply(root: &str, parent: &str) -> Value {
        json!({"root": {"uri": root, "cid": "bafyreiroot"}, "parent": {"uri": parent, "cid": "bafyreiparent"}})
    }

    #[test]
    fn keeps_every_indexed_field() {
        let mut record = comment(reply(POST, PARENT), json!("Nice."));
        record["facets"] = json!([{"index": {"byteStart": 0, "byteEnd": 4}, "features": []}]);
        record["embed"] = json!({"$type": "social.coves.embed.post", "post": {"uri": POST, "cid": "bafyreiroot"}});
        record["langs"] = json!(["en", 3, "de"]);
        record["labels"] = json!({"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nsfw"}]});
        record["futureKey"] = json!(true);
        let parsed = parse_comment(&record).expect("valid comment");
        assert_eq!(parsed.root, Ref { uri: POST.into(), cid: "bafyreiroot".into() });
        assert_eq!(parsed.parent, Ref { uri: PARENT.into(), cid: "bafyreiparent".into() });
        assert_eq!(parsed.content, "Nice.");
        assert_eq!(parsed.langs, ["en", "de"], "non-strings are dropped");
        assert!(parsed.facets.is_some() && parsed.embed.is_some() && parsed.labels.is_some());
        assert_eq!(parsed.created_at.map(|t| t.to_rfc3339()), Some("2026-01-01T11:00:00+00:00".to_owned()));
    }

    #[test]
    fn refuses_malformed_replies() {
        let refused = |reply: Value| parse_comment(&comment(reply, json!("hi"))).expect_err("refused");
        assert_eq!(refused(json!(null)), "`reply` is required");
        assert_eq!(refused(json!({"root": {"uri": POST, "cid": "bafyreiroot"}})), "`reply.parent` is required");
        assert_eq!(
            refused(json!({"root": {"uri": POST, "cid": ""}, "parent": {"uri": POST, "cid": "c"}})),
            "`reply.root.cid` is required"
        );
        assert!(refused(reply("https://example.com/x", PARENT)).starts_with("`reply.root.uri`: invalid AT-URI"));
        assert!(refused(reply(POST, "at://alice.test/social.coves.community.comment/3k")).contains("by DID"));
        assert!(refused(reply(POST, "at://did:plc:alice234567abcdefghijkl")).contains("must name a record"));
        assert!(parse_comment(&comment(reply(POST, POST), json!("top-level"))).is_ok());
    }

    #[test]
    fn refuses_missing_empty_or_long_content_and_a_missing_created_at() {
        let content = |value: Value| parse_comment(&comment(reply(POST, POST), value)).map(|c| c.content);
        assert_eq!(content(json!(null)), Err("`content` is required".to_owned()));
        assert_eq!(content(json!(7)), Err("`content` must be a string".to_owned()));
        assert_eq!(content(json!("")), Err("`content` is empty".to_owned()));
        assert_eq!(content(json!("é".repeat(15_000))), Ok("é".repeat(15_000)), "30000 bytes is the limit");
        assert_eq!(
            content(json!(format!("{}x", "é".repeat(15_000)))),
            Err("`content` is 30001 bytes, over the 30000-byte limit".to_owned())
        );

        let mut record = comment(reply(POST, POST), json!("hi"));
        record["createdAt"] = json!("yesterday-ish");
        assert_eq!(parse_comment(&record).expect("valid").created_at, None, "unparseable: the event time is used");
        record.as_object_mut().map(|o| o.remove("createdAt"));
        assert_eq!(parse_comment(&record), Err("`createdAt` is required".to_owned()));
    }
}
