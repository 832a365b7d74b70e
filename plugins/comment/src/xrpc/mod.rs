//! XRPC methods of the comment plugin: the write procedures, which answer
//! `WriteDirectlyToPDS` (COVES_API §1.3): comments are written by clients to their own PDS.

mod create;
mod delete;
mod update;

use coves_plugin_api::syntax::{AtUri, Did};
use coves_plugin_api::write_directly::{self, record_ref};
use coves_plugin_api::{AppContext, Viewer, XrpcMethod};
use serde_json::{Map, Value, json};

use crate::COMMENT_COLLECTION;
use crate::record::MAX_CONTENT_BYTES;
use crate::service::{CurrentVersion, current_version};

/// Where clients find the URI of a comment when the request does not name one of theirs.
const COMMENT_URI_FIELD: &str = "the uri of the comment view";

/// The record fields an update may change; the rest of the record stays.
const EDITABLE: [&str; 5] = ["content", "facets", "embed", "langs", "labels"];

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        write_directly::procedure(create::NSID, |req| Box::pin(create::create_comment(req))),
        write_directly::procedure(update::NSID, |req| Box::pin(update::update_comment(req))),
        write_directly::procedure(delete::NSID, |req| Box::pin(delete::delete_comment(req))),
    ]
}

/// A strongRef the indexer accepts in `reply` (a record URI naming its repo by DID), as
/// `{uri, cid}`.
fn thread_ref(value: &Value) -> Option<Value> {
    let strong_ref = record_ref(value)?;
    Did::new(strong_ref.uri.authority()).ok()?;
    Some(json!({"uri": strong_ref.uri, "cid": strong_ref.cid}))
}

/// Copies the body's editable fields into `record`: `content` when the indexer would
/// accept it (else `fallback`), and `facets`, `embed`, `langs`, `labels` when they have
/// the right JSON type. A note is returned when the content was refused.
fn copy_editable(body: &Map<String, Value>, record: &mut Map<String, Value>, fallback: Value) -> Option<String> {
    let content = body.get("content").and_then(Value::as_str).filter(|c| !c.is_empty());
    let note = content.filter(|c| c.len() > MAX_CONTENT_BYTES).map(|c| {
        format!("content is {} bytes; this AppView indexes comments of at most {MAX_CONTENT_BYTES} bytes.", c.len())
    });
    record.insert(
        "content".into(),
        content.filter(|c| c.len() <= MAX_CONTENT_BYTES).map_or(fallback, |c| Value::from(c.to_owned())),
    );
    let typed = |key: &str, ok: fn(&Value) -> bool| body.get(key).filter(|v| ok(v)).cloned();
    for (key, value) in [
        ("facets", typed("facets", Value::is_array)),
        ("embed", typed("embed", Value::is_object)),
        ("langs", typed("langs", Value::is_array)),
        ("labels", typed("labels", Value::is_object)),
    ] {
        if let Some(value) = value {
            record.insert(key.into(), value);
        }
    }
    note
}

/// The comment a put or delete targets: the body's `uri` when it names a comment.
fn target_comment(body: &Map<String, Value>) -> Option<AtUri> {
    let uri: AtUri = body.get("uri")?.as_str()?.parse().ok()?;
    Did::new(uri.authority()).ok()?;
    (uri.collection() == Some(COMMENT_COLLECTION) && uri.rkey().is_some()).then_some(uri)
}

/// The rkey of the comment a put or delete targets: `Ok(None)` when the body names none,
/// `Err(note)` when a known viewer is not its author (their PDS would refuse the write).
fn own_rkey<'u>(viewer: &Viewer, comment: Option<&'u AtUri>) -> Result<Option<&'u str>, String> {
    let Some(comment) = comment else { return Ok(None) };
    match &viewer.did {
        Some(did) if did.as_str() != comment.authority() => {
            Err(format!("{comment} lives in {}'s repo, not yours: only its author can change it.", comment.authority()))
        }
        _ => Ok(comment.rkey()),
    }
}

/// The indexed version of the comment, best effort: the answer is the same error with or
/// without it, so a database problem only leaves it out (and is logged).
async fn indexed_version(app: &AppContext, uri: &AtUri) -> Option<CurrentVersion> {
    let lookup = async {
        let mut conn = app.conn().await.map_err(|e| e.message)?;
        current_version(&mut conn, uri.as_str()).await.map_err(|e| e.to_string())
    };
    match lookup.await {
        Ok(version) => version,
        Err(error) => {
            tracing::warn!(%error, "comment lookup failed; answering WriteDirectlyToPDS without it");
            None
        }
    }
}
