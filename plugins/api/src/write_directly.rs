//! The answer of user-record write procedures on this read-only AppView (COVES_API §1.3).
//!
//! Clients write their own records to their own PDS; the AppView only indexes them. An
//! XRPC procedure that would create, change or delete a user-repo record (vote, subscribe,
//! block, comment, profile) therefore answers, for any HTTP method and whatever the token,
//! **400 `WriteDirectlyToPDS`** with a one-sentence `message` naming the collection and
//! the PDS method, plus keys that spell out the write to perform:
//!
//! ```jsonc
//! {
//!   "error": "WriteDirectlyToPDS",
//!   "message": "Read-only AppView: create a social.coves.feed.vote record with com.atproto.repo.createRecord on your own PDS.",
//!   "procedure": "social.coves.feed.vote.create",
//!   "pdsMethod": "com.atproto.repo.createRecord",
//!   "repo": "did:plc:…",           // only when a valid token named the viewer
//!   "collection": "social.coves.feed.vote",
//!   "rkey": "3l…",                 // delete/put only, when known
//!   "record": { "$type": "social.coves.feed.vote", …, "createdAt": "2026-01-01T12:00:00.000Z" }  // create/put
//! }
//! ```
//!
//! A plugin declares such a procedure with [`procedure`] (so `GET` gets the same answer
//! rather than 405) and its handler returns `Err(WriteDirectly::create(...)....into())`:
//!
//! ```
//! use coves_plugin_api::write_directly::{self, WriteDirectly};
//! use coves_plugin_api::{XrpcMethod, XrpcRequest, XrpcResult};
//!
//! async fn subscribe(req: XrpcRequest) -> XrpcResult {
//!     let mut record = serde_json::Map::new();
//!     record.insert("subject".into(), "<community DID>".into());
//!     Err(WriteDirectly::create("social.coves.community.subscribe", "social.coves.community.subscription")
//!         .viewer(&req.viewer)
//!         .record(record)
//!         .into())
//! }
//!
//! let method: XrpcMethod = write_directly::procedure("social.coves.community.subscribe", |req| Box::pin(subscribe(req)));
//! assert!(method.any_method);
//! ```
//!
//! Handlers must have no side effects, and answer this error even when the body is
//! missing or malformed (then `record` is a template with `<placeholders>`) and when the
//! database is unavailable (then without the parts read from it). Long base64 strings and
//! `data:` URIs are never echoed: see [`WriteDirectly::into_error`].

use chrono::Utc;
use serde_json::{Map, Value};

use crate::context::Viewer;
use crate::error::ApiError;
use crate::syntax::{StrongRef, format_datetime};
use crate::xrpc::{XrpcHandler, XrpcMethod};

/// The XRPC `error` name of this answer.
pub const ERROR_NAME: &str = "WriteDirectlyToPDS";

/// Replaces inline binary data in an echoed record (see [`WriteDirectly::into_error`]).
pub const OMITTED_DATA: &str =
    "<binary data omitted: upload it with com.atproto.repo.uploadBlob and put the returned blob here>";

/// The keys [`WriteDirectly`] sets itself.
const STANDARD_KEYS: [&str; 8] = ["error", "message", "procedure", "pdsMethod", "repo", "collection", "rkey", "record"];

/// Strings at least this long made only of base64 characters are taken for inline data.
const MIN_BASE64_LEN: usize = 512;

/// Declares a write procedure: a procedure whose handler also answers `GET` and every
/// other HTTP method (COVES_API §1.3: the same 400 for any HTTP method, never 405).
pub fn procedure(nsid: &'static str, handler: XrpcHandler) -> XrpcMethod {
    XrpcMethod::procedure(nsid, handler).accepting_any_method()
}

/// The `com.atproto.repo` method the client calls on its own PDS instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdsMethod {
    /// `com.atproto.repo.createRecord`: a new record, its rkey (a TID) chosen by the PDS.
    CreateRecord,
    /// `com.atproto.repo.putRecord`: replaces the record at a known rkey.
    PutRecord,
    /// `com.atproto.repo.deleteRecord`: deletes the record at a known rkey.
    DeleteRecord,
}

impl PdsMethod {
    /// The method's NSID, e.g. `com.atproto.repo.createRecord`.
    pub fn nsid(self) -> &'static str {
        match self {
            Self::CreateRecord => "com.atproto.repo.createRecord",
            Self::PutRecord => "com.atproto.repo.putRecord",
            Self::DeleteRecord => "com.atproto.repo.deleteRecord",
        }
    }

    /// What the message tells the client to do with the collection's record.
    fn action(self) -> &'static str {
        match self {
            Self::CreateRecord => "create a",
            Self::PutRecord => "update your",
            Self::DeleteRecord => "delete your",
        }
    }
}

/// Builds the `WriteDirectlyToPDS` answer of one request. Turn it into the handler's
/// error with `.into()` (or [`WriteDirectly::into_error`]).
#[derive(Clone, Debug)]
pub struct WriteDirectly {
    procedure: &'static str,
    pds_method: PdsMethod,
    collection: &'static str,
    repo: Option<String>,
    rkey: Option<String>,
    rkey_in: Option<String>,
    record: Option<Map<String, Value>>,
    extra: Map<String, Value>,
}

impl WriteDirectly {
    /// The answer of `procedure` (its NSID), which the client replaces by `pds_method` on a
    /// record of `collection` (an NSID) in its own repo.
    pub fn new(procedure: &'static str, pds_method: PdsMethod, collection: &'static str) -> Self {
        Self {
            procedure,
            pds_method,
            collection,
            repo: None,
            rkey: None,
            rkey_in: None,
            record: None,
            extra: Map::new(),
        }
    }

    /// A `createRecord` answer; give the example record with [`WriteDirectly::record`].
    pub fn create(procedure: &'static str, collection: &'static str) -> Self {
        Self::new(procedure, PdsMethod::CreateRecord, collection)
    }

    /// A `putRecord` answer; give the rkey and the example record.
    pub fn put(procedure: &'static str, collection: &'static str) -> Self {
        Self::new(procedure, PdsMethod::PutRecord, collection)
    }

    /// A `deleteRecord` answer; give the rkey when the viewer's indexed record is known,
    /// else say where the client finds it with [`WriteDirectly::rkey_in`].
    pub fn delete(procedure: &'static str, collection: &'static str) -> Self {
        Self::new(procedure, PdsMethod::DeleteRecord, collection)
    }

    /// Sets `repo` to the viewer's DID when a valid token named one (anonymous requests
    /// and refused tokens leave it out; the answer is the same 400 either way).
    pub fn viewer(mut self, viewer: &Viewer) -> Self {
        self.repo = viewer.did.as_ref().map(ToString::to_string);
        self
    }

    /// The record key to put or delete (the viewer's indexed record; `self` for profiles).
    pub fn rkey(mut self, rkey: impl Into<String>) -> Self {
        self.rkey = Some(rkey.into());
        self
    }

    /// Where the client finds the record's URI when [`WriteDirectly::rkey`] is unknown (no
    /// viewer, or no indexed record), e.g. `viewer.voteUri of the post or comment view`;
    /// the message then says to take the rkey from there.
    pub fn rkey_in(mut self, view_field: impl Into<String>) -> Self {
        self.rkey_in = Some(view_field.into());
        self
    }

    /// The example record (create/put): `$type` is set to the collection, and `createdAt`
    /// to now (`YYYY-MM-DDTHH:MM:SS.mmmZ`) unless `fields` has one (an update keeps the
    /// record's own).
    pub fn record(mut self, mut fields: Map<String, Value>) -> Self {
        fields.insert("$type".into(), self.collection.into());
        if !fields.contains_key("createdAt") {
            fields.insert("createdAt".into(), format_datetime(&Utc::now()).into());
        }
        self.record = Some(fields);
        self
    }

    /// Adds a `note` key: client logic the procedure used to perform (e.g. a toggle).
    pub fn note(self, note: impl Into<String>) -> Self {
        self.extra("note", note.into())
    }

    /// Adds any other key. The standard keys (`error`, `message`, `procedure`, `pdsMethod`,
    /// `repo`, `collection`, `rkey`, `record`) are ignored here: they have their own setters.
    pub fn extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The one-sentence message: the action, the collection, the PDS method and, for a
    /// put or delete whose rkey is unknown, where to find it.
    pub fn message(&self) -> String {
        let mut message = format!(
            "Read-only AppView: {} {} record with {} on your own PDS",
            self.pds_method.action(),
            self.collection,
            self.pds_method.nsid()
        );
        if self.pds_method != PdsMethod::CreateRecord
            && self.rkey.is_none()
            && let Some(field) = &self.rkey_in
        {
            message.push_str("; take its record key from the last segment of ");
            message.push_str(field);
        }
        message.push('.');
        message
    }

    /// The 400 `WriteDirectlyToPDS` error. `rkey` is sent for put/delete only and `record`
    /// for create/put only. Every string of `record` and of the extra keys that is a
    /// `data:` URI or a long base64 run is replaced by [`OMITTED_DATA`]: images go to the
    /// PDS with `uploadBlob`, and client data is never echoed in bulk.
    pub fn into_error(self) -> ApiError {
        let mut error = ApiError::new(400, ERROR_NAME, self.message());
        for (key, mut value) in self.extra {
            if STANDARD_KEYS.contains(&key.as_str()) {
                continue;
            }
            scrub_inline_data(&mut value);
            error = error.with_extra(&key, value);
        }
        error = error
            .with_extra("procedure", self.procedure)
            .with_extra("pdsMethod", self.pds_method.nsid())
            .with_extra("collection", self.collection);
        if let Some(repo) = self.repo {
            error = error.with_extra("repo", repo);
        }
        if self.pds_method != PdsMethod::CreateRecord
            && let Some(rkey) = self.rkey
        {
            error = error.with_extra("rkey", rkey);
        }
        if self.pds_method != PdsMethod::DeleteRecord
            && let Some(record) = self.record
        {
            let mut record = Value::Object(record);
            scrub_inline_data(&mut record);
            error = error.with_extra("record", record);
        }
        error
    }
}

impl From<WriteDirectly> for ApiError {
    fn from(answer: WriteDirectly) -> Self {
        answer.into_error()
    }
}

/// The request body as a JSON object; `None` when it is empty, not JSON, or not an object
/// (the answer then uses a template).
pub fn body_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// A well-formed strongRef naming a record (`at://did/collection/rkey` and a CID), or
/// `None`. An optional `$type` is accepted and dropped.
pub fn record_ref(value: &Value) -> Option<StrongRef> {
    let strong_ref: StrongRef = serde_json::from_value(value.clone()).ok()?;
    (strong_ref.uri.collection().is_some() && strong_ref.uri.rkey().is_some()).then_some(strong_ref)
}

/// A template strongRef to `what` (e.g. `post or comment`), for records built without a
/// usable body: `{"uri": "<AT-URI of the …>", "cid": "<CID of the …>"}`.
pub fn ref_template(what: &str) -> Value {
    serde_json::json!({"uri": format!("<AT-URI of the {what}>"), "cid": format!("<CID of the {what}>")})
}

/// Replaces inline binary data (a `data:` URI, or a run of at least 512 base64 or
/// base64url characters) anywhere in `value` by [`OMITTED_DATA`].
fn scrub_inline_data(value: &mut Value) {
    match value {
        Value::String(s) if is_inline_data(s) => *value = OMITTED_DATA.into(),
        Value::Array(items) => items.iter_mut().for_each(scrub_inline_data),
        Value::Object(map) => map.values_mut().for_each(scrub_inline_data),
        _ => {}
    }
}

fn is_inline_data(s: &str) -> bool {
    let is_base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_');
    s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:"))
        || (s.len() >= MIN_BASE64_LEN && s.chars().all(is_base64))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::syntax::{Datetime, Did};

    const VOTE: &str = "social.coves.feed.vote";

    fn viewer() -> Viewer {
        Viewer::authenticated(Did::new("did:plc:viewer00000000000000000").expect("valid DID"))
    }

    /// The answer's JSON without `record.createdAt`, and that `createdAt`.
    fn split_created_at(mut body: Value) -> (Value, Option<String>) {
        let created_at = body.get_mut("record").and_then(|r| r.as_object_mut()).and_then(|r| r.remove("createdAt"));
        (body, created_at.and_then(|c| c.as_str().map(str::to_owned)))
    }

    #[test]
    fn create_answer_has_the_contract_shape() {
        let mut fields = Map::new();
        fields.insert("direction".into(), "up".into());
        let error: ApiError = WriteDirectly::create("social.coves.feed.vote.create", VOTE)
            .viewer(&viewer())
            .record(fields)
            .rkey("ignored-for-create")
            .into();
        assert_eq!(error.status, 400);
        let (body, created_at) = split_created_at(error.to_json());
        assert_eq!(
            body,
            json!({
                "error": "WriteDirectlyToPDS",
                "message": "Read-only AppView: create a social.coves.feed.vote record with com.atproto.repo.createRecord on your own PDS.",
                "procedure": "social.coves.feed.vote.create",
                "pdsMethod": "com.atproto.repo.createRecord",
                "repo": "did:plc:viewer00000000000000000",
                "collection": VOTE,
                "record": {"$type": VOTE, "direction": "up"},
            })
        );
        let created_at = created_at.expect("createdAt is set");
        assert!(created_at.ends_with('Z') && created_at.len() == 24, "{created_at}");
        let age = Utc::now() - Datetime::new(created_at).expect("a valid datetime").to_utc();
        assert!(age.num_seconds().abs() < 60, "createdAt is now");
    }

    #[test]
    fn anonymous_or_refused_viewers_get_no_repo() {
        for viewer in [Viewer::anonymous(), Viewer::refused("token expired")] {
            let body = WriteDirectly::create("p", VOTE).viewer(&viewer).into_error().to_json();
            assert!(body.get("repo").is_none(), "{body}");
            assert_eq!(body["error"], ERROR_NAME);
        }
    }

    #[test]
    fn delete_answer_names_the_rkey_or_where_to_find_it() {
        let known = WriteDirectly::delete("social.coves.feed.vote.delete", VOTE)
            .viewer(&viewer())
            .rkey("3kvote0000001")
            .rkey_in("viewer.voteUri of the post or comment view")
            .record(Map::new())
            .into_error();
        assert_eq!(
            known.to_json(),
            json!({
                "error": "WriteDirectlyToPDS",
                "message": "Read-only AppView: delete your social.coves.feed.vote record with com.atproto.repo.deleteRecord on your own PDS.",
                "procedure": "social.coves.feed.vote.delete",
                "pdsMethod": "com.atproto.repo.deleteRecord",
                "repo": "did:plc:viewer00000000000000000",
                "collection": VOTE,
                "rkey": "3kvote0000001",
            })
        );
        let unknown = WriteDirectly::delete("social.coves.feed.vote.delete", VOTE)
            .rkey_in("viewer.voteUri of the post or comment view")
            .into_error()
            .to_json();
        assert_eq!(
            unknown["message"],
            "Read-only AppView: delete your social.coves.feed.vote record with com.atproto.repo.deleteRecord on your own \
             PDS; take its record key from the last segment of viewer.voteUri of the post or comment view."
        );
        assert!(unknown.get("rkey").is_none() && unknown.get("repo").is_none(), "{unknown}");
    }

    #[test]
    fn put_keeps_a_given_created_at_and_sends_rkey_and_record() {
        let mut fields = Map::new();
        fields.insert("createdAt".into(), "2025-01-01T00:00:00.000Z".into());
        let body = WriteDirectly::put("social.coves.actor.updateProfile", "social.coves.actor.profile")
            .rkey("self")
            .record(fields)
            .note("upload images with com.atproto.repo.uploadBlob first")
            .into_error()
            .to_json();
        assert_eq!(body["pdsMethod"], "com.atproto.repo.putRecord");
        assert_eq!(body["rkey"], "self");
        assert_eq!(
            body["record"],
            json!({"$type": "social.coves.actor.profile", "createdAt": "2025-01-01T00:00:00.000Z"})
        );
        assert_eq!(body["note"], "upload images with com.atproto.repo.uploadBlob first");
        assert_eq!(
            body["message"],
            "Read-only AppView: update your social.coves.actor.profile record with com.atproto.repo.putRecord on your own PDS."
        );
    }

    #[test]
    fn standard_keys_win_over_extra_keys() {
        let body = WriteDirectly::create("p", VOTE)
            .extra("error", "Other")
            .extra("collection", "x")
            .extra("rkey", "sneaky")
            .extra("existing", "kept")
            .into_error()
            .to_json();
        assert_eq!((&body["error"], &body["collection"]), (&json!(ERROR_NAME), &json!(VOTE)));
        assert!(body.get("rkey").is_none(), "{body}");
        assert_eq!(body["existing"], "kept");
    }

    #[test]
    fn inline_binary_data_is_never_echoed() {
        let base64 = "iVBORw0KGgo".repeat(60);
        let mut fields = Map::new();
        fields.insert("avatar".into(), format!("data:image/png;base64,{base64}").into());
        fields.insert("images".into(), json!([{"image": base64.clone(), "alt": "a cat"}]));
        fields.insert("content".into(), "short text stays".into());
        let body = WriteDirectly::create("p", "social.coves.community.comment")
            .record(fields)
            .extra("echo", base64.clone())
            .into_error()
            .to_json();
        assert_eq!(body["record"]["avatar"], OMITTED_DATA);
        assert_eq!(body["record"]["images"], json!([{"image": OMITTED_DATA, "alt": "a cat"}]));
        assert_eq!(body["record"]["content"], "short text stays");
        assert_eq!(body["echo"], OMITTED_DATA);
        assert!(!body.to_string().contains("iVBORw0KGgo"));
    }

    #[test]
    fn bodies_and_refs_parse_leniently() {
        assert_eq!(body_object(b""), None);
        assert_eq!(body_object(b"not json"), None);
        assert_eq!(body_object(b"[1]"), None);
        assert_eq!(body_object(br#"{"a":1}"#).map(|m| m.len()), Some(1));

        let post = "at://did:plc:c/social.coves.community.post/3kpost0000001";
        let parsed = record_ref(&json!({"$type": "com.atproto.repo.strongRef", "uri": post, "cid": "bafyreisubject"}));
        assert_eq!(parsed.map(|r| r.uri.to_string()), Some(post.to_owned()));
        assert_eq!(record_ref(&json!({"uri": post})), None, "a CID is required");
        assert_eq!(record_ref(&json!({"uri": "at://did:plc:c", "cid": "bafyreisubject"})), None, "not a record");
        assert_eq!(record_ref(&json!({"uri": "nope", "cid": "bafyreisubject"})), None);
        assert_eq!(ref_template("post"), json!({"uri": "<AT-URI of the post>", "cid": "<CID of the post>"}));
    }

    #[test]
    fn procedures_accept_any_http_method() {
        let method = procedure("social.coves.feed.vote.create", |_| Box::pin(async { Ok(Value::Null) }));
        assert_eq!((method.kind, method.any_method), (crate::XrpcKind::Procedure, true));
        assert!(!XrpcMethod::procedure("x.y.z", |_| Box::pin(async { Ok(Value::Null) })).any_method);
    }
}
