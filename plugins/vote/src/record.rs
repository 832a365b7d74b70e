//! Reading a `social.coves.feed.vote` record.

use chrono::{DateTime, Utc};
use coves_plugin_api::syntax::{AtUri, parse_datetime_lenient};
use serde_json::Value;

/// Collections whose records votes count for; votes on anything else are stored only.
const COUNTED_COLLECTIONS: [&str; 2] = ["social.coves.community.post", "social.coves.community.comment"];

/// A valid vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub subject_uri: String,
    /// 1 = up, -1 = down.
    pub direction: i16,
    pub created_at: Option<DateTime<Utc>>,
    /// Whether the subject is a post or comment (the only subjects with counts).
    pub counted: bool,
}

/// Parses a vote; `Err((reason, detail))` says why it is refused.
pub fn parse_vote(record: &Value) -> Result<Vote, (&'static str, String)> {
    let invalid = |detail: String| ("invalid_record", detail);
    let subject = record.get("subject").ok_or_else(|| invalid("`subject` is required".into()))?;
    let uri = subject.get("uri").and_then(Value::as_str).ok_or_else(|| invalid("`subject.uri` is required".into()))?;
    // A strongRef needs its CID; counting does not, so it is checked, not kept.
    subject
        .get("cid")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("`subject.cid` is required".into()))?;
    let parsed: AtUri = uri.parse().map_err(|e| invalid(format!("`subject.uri`: {e}")))?;
    let (Some(collection), Some(_)) = (parsed.collection(), parsed.rkey()) else {
        return Err(invalid(format!("`subject.uri` {uri:?} must name a record (at://did/collection/rkey)")));
    };
    let direction = match record.get("direction").and_then(Value::as_str) {
        Some("up") => 1,
        Some("down") => -1,
        other => return Err(("invalid_direction", format!("`direction` must be \"up\" or \"down\", got {other:?}"))),
    };
    Ok(Vote {
        subject_uri: uri.to_owned(),
        direction,
        created_at: record.get("createdAt").and_then(Value::as_str).and_then(parse_datetime_lenient),
        counted: COUNTED_COLLECTIONS.contains(&collection),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vote(subject: &str, direction: &str) -> Value {
        json!({"subject": {"uri": subject, "cid": "bafyreisubject"}, "direction": direction, "createdAt": "2026-01-01T12:00:00Z"})
    }

    #[test]
    fn reads_direction_subject_and_whether_it_counts() {
        let post = parse_vote(&vote("at://did:plc:c/social.coves.community.post/3k2", "up")).expect("valid");
        assert_eq!((post.direction, post.counted), (1, true));
        let other = parse_vote(&vote("at://did:plc:c/app.bsky.feed.post/3k2", "down")).expect("valid");
        assert_eq!((other.direction, other.counted), (-1, false));
    }

    #[test]
    fn refuses_bad_votes_with_reasons() {
        assert_eq!(
            parse_vote(&vote("at://did:plc:c/social.coves.community.post/3k2", "sideways")).map_err(|e| e.0),
            Err("invalid_direction")
        );
        assert_eq!(parse_vote(&vote("not a uri", "up")).map_err(|e| e.0), Err("invalid_record"));
        assert_eq!(parse_vote(&vote("at://did:plc:c", "up")).map_err(|e| e.0), Err("invalid_record"));
        assert_eq!(parse_vote(&json!({"direction": "up"})).map_err(|e| e.0), Err("invalid_record"));
    }
}
