//! What a batch does to each comment, decided before anything is written: a comment's
//! commits of the batch are applied in rev order to its stored state, exactly as if they
//! had arrived one by one, and folded into the one row to write.
//!
//! The rules (COVES_API §2.0, §2.5):
//!
//! * A commit whose rev is not newer than the comment's is ignored (replays, overtaken
//!   commits), so a delete that arrived first leaves a tombstone no older create revives.
//! * A create (re)creates the comment: inserts it, or revives a deleted one, possibly under
//!   another parent. A create of a live comment changes nothing when it is a replay; with a
//!   newer rev it can only follow a delete not seen yet (a repo cannot create over an
//!   existing record), so it replaces the comment like a revive.
//! * An update changes the version shown (content, facets, embed, langs, labels, record,
//!   CID) and marks the edit; thread position and `createdAt` stay. One that names another
//!   root or parent URI than the live comment is skipped (`reply_changed`). An update of a
//!   comment not live here stands for a create not seen yet, and (re)creates it.
//! * A delete drops the content and keeps the thread position (a placeholder); a delete
//!   of an unknown comment leaves a tombstone.
//!
//! Without a stored state (not read when a comment has a single create or delete in the
//! batch, which does not need it) a comment counts as absent; the write's rev guard then
//! keeps the outcome right.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use coves_plugin_api::CommitEvent;
use serde_json::Value;

use crate::record::Comment;

/// A record version of a create or update.
#[derive(Debug)]
pub struct Version<'a> {
    pub comment: Comment,
    /// The record as received, unknown keys included.
    pub record: &'a Value,
    pub cid: &'a str,
}

/// A valid commit.
#[derive(Debug)]
pub enum Op<'a> {
    Create(Version<'a>),
    Update(Version<'a>),
    Delete,
}

/// A validated commit of the batch.
#[derive(Debug)]
pub struct Commit<'a> {
    pub event: &'a CommitEvent,
    pub op: Op<'a>,
}

/// A comment's identity in its repo: (commenter DID, rkey).
pub type Key<'a> = (&'a str, &'a str);

/// The batch's commits per comment, in rev order.
pub fn by_comment<'c, 'a>(commits: &'c [Commit<'a>]) -> BTreeMap<Key<'a>, Vec<&'c Commit<'a>>> {
    let mut grouped: BTreeMap<Key<'a>, Vec<&'c Commit<'a>>> = BTreeMap::new();
    for commit in commits {
        grouped.entry((commit.event.did.as_str(), commit.event.rkey.as_str())).or_default().push(commit);
    }
    for list in grouped.values_mut() {
        list.sort_by(|a, b| a.event.rev.cmp(&b.event.rev));
    }
    grouped
}

/// Whether the outcome of a comment's commits depends on its stored state beyond the
/// write's rev guard: an update (its reply is checked against the live comment) or
/// several commits (each applies to what the previous left).
pub fn needs_stored(commits: &[&Commit<'_>]) -> bool {
    commits.len() > 1 || commits.iter().any(|c| matches!(c.op, Op::Update(_)))
}

/// The stored state of a comment, as far as applying commits needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub rev: String,
    pub deleted: bool,
    pub root_uri: Option<String>,
    pub parent_uri: Option<String>,
}

/// The row to write for one comment.
#[derive(Debug)]
pub struct Row<'c, 'a> {
    /// The last commit applied: names the comment and gives the row its rev.
    pub event: &'a CommitEvent,
    /// Set when the batch (re)created the comment: the version whose thread position and
    /// `createdAt` (the event time when unparseable) the row takes. `None` keeps the
    /// stored ones.
    pub origin: Option<(&'c Version<'a>, DateTime<Utc>)>,
    /// The version shown; `None` when deleted.
    pub live: Option<&'c Version<'a>>,
    /// CID of the last live version the batch applied; `None` keeps the stored one.
    pub cid: Option<&'a str>,
    /// Event time of the last update the batch applied since (re)creating the comment.
    pub edited_at: Option<DateTime<Utc>>,
    /// Event time of the delete, when the comment ends deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An update refused because it moves the comment in its thread.
#[derive(Debug)]
pub struct Refused<'a> {
    pub event: &'a CommitEvent,
    pub detail: String,
}

/// Where the comment stands after the commits applied so far.
enum State<'s> {
    Absent,
    Live { root: &'s str, parent: &'s str },
    Deleted,
}

/// Applies one comment's commits (in rev order) to its stored state; `None` when none
/// changes anything. Refused updates are pushed to `refused`.
pub fn apply<'c, 'a>(
    stored: Option<&Stored>,
    commits: &[&'c Commit<'a>],
    refused: &mut Vec<Refused<'a>>,
) -> Option<Row<'c, 'a>> {
    let mut state = match stored {
        None => State::Absent,
        Some(s) if s.deleted => State::Deleted,
        Some(s) => State::Live {
            root: s.root_uri.as_deref().unwrap_or_default(),
            parent: s.parent_uri.as_deref().unwrap_or_default(),
        },
    };
    let mut rev = stored.map(|s| s.rev.as_str());
    let mut row: Option<Row<'c, 'a>> = None;
    for &commit in commits {
        let event = commit.event;
        if rev.is_some_and(|rev| event.rev.as_str() <= rev) {
            continue;
        }
        let time = event_time(event);
        let (origin, live, cid, edited_at, deleted_at) = match (&commit.op, &state) {
            (Op::Update(version), State::Live { root, parent }) => {
                let reply = &version.comment;
                if reply.root.uri != *root || reply.parent.uri != *parent {
                    refused.push(Refused {
                        event,
                        detail: format!(
                            "an update may not move a comment (root {root} → {}, parent {parent} → {})",
                            reply.root.uri, reply.parent.uri
                        ),
                    });
                    continue;
                }
                let origin = row.as_ref().and_then(|r| r.origin);
                (origin, Some(version), Some(version.cid), Some(time), None)
            }
            (Op::Create(version), _) | (Op::Update(version), State::Absent | State::Deleted) => {
                let created_at = version.comment.created_at.unwrap_or(time);
                let edited_at = matches!(commit.op, Op::Update(_)).then_some(time);
                (Some((version, created_at)), Some(version), Some(version.cid), edited_at, None)
            }
            // What the batch set before stays: a placeholder keeps its thread position.
            (Op::Delete, _) => match &row {
                Some(r) => (r.origin, None, r.cid, r.edited_at, Some(time)),
                None => (None, None, None, None, Some(time)),
            },
        };
        state = match live {
            Some(version) => State::Live { root: &version.comment.root.uri, parent: &version.comment.parent.uri },
            None => State::Deleted,
        };
        rev = Some(event.rev.as_str());
        row = Some(Row { event, origin, live, cid, edited_at, deleted_at });
    }
    row
}

/// Jetstream's event time, which replays reproduce (unlike the clock).
pub fn event_time(event: &CommitEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(event.time_us).unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use coves_plugin_api::CommitOp;
    use serde_json::json;

    use super::*;
    use crate::record::parse_comment;

    const ME: &str = "did:plc:commenter234567abcdefghi";
    const POST: &str = "at://did:plc:community234567abcdefghij/social.coves.community.post/3kpost0000001";
    const OTHER: &str = "at://did:plc:community234567abcdefghij/social.coves.community.post/3kpost0000002";

    fn record(parent: &str, content: &str) -> Value {
        json!({"reply": {"root": {"uri": POST, "cid": "bafyreiroot"}, "parent": {"uri": parent, "cid": "bafyreip"}},
               "content": content, "createdAt": "2026-01-01T00:00:00Z"})
    }

    fn event(rev: &str, op: CommitOp) -> CommitEvent {
        CommitEvent {
            did: ME.parse().expect("DID"),
            time_us: 1_000_000,
            rev: rev.to_owned(),
            collection: "social.coves.community.comment".parse().expect("NSID"),
            rkey: "3kcomm0000001".parse().expect("rkey"),
            op,
        }
    }

    fn create(rev: &str, parent: &str, content: &str) -> CommitEvent {
        event(rev, CommitOp::Create { record: Arc::new(record(parent, content)), cid: format!("cid{rev}") })
    }

    fn update(rev: &str, parent: &str, content: &str) -> CommitEvent {
        event(rev, CommitOp::Update { record: Arc::new(record(parent, content)), cid: format!("cid{rev}") })
    }

    fn delete(rev: &str) -> CommitEvent {
        event(rev, CommitOp::Delete)
    }

    fn commits(events: &[CommitEvent]) -> Vec<Commit<'_>> {
        events
            .iter()
            .map(|event| {
                let op = match &event.op {
                    CommitOp::Create { record, cid } => {
                        Op::Create(Version { comment: parse_comment(record).expect("valid"), record, cid })
                    }
                    CommitOp::Update { record, cid } => {
                        Op::Update(Version { comment: parse_comment(record).expect("valid"), record, cid })
                    }
                    CommitOp::Delete => Op::Delete,
                };
                Commit { event, op }
            })
            .collect()
    }

    /// What a test looks at in a row.
    #[derive(Debug, PartialEq)]
    struct Seen {
        rev: String,
        /// Parent of the version the row takes its thread position from.
        origin: Option<String>,
        /// Content shown.
        live: Option<String>,
        cid: Option<String>,
        edited: bool,
        deleted: bool,
    }

    /// The row written (if any) and the refused updates' revs.
    fn run(stored: Option<Stored>, events: &[CommitEvent]) -> (Option<Seen>, Vec<String>) {
        let commits = commits(events);
        let grouped = by_comment(&commits);
        let list = grouped.values().next().expect("one comment");
        let mut refused = Vec::new();
        let row = apply(stored.as_ref(), list, &mut refused).map(|row| Seen {
            rev: row.event.rev.clone(),
            origin: row.origin.map(|(v, _)| v.comment.parent.uri.clone()),
            live: row.live.map(|v| v.comment.content.clone()),
            cid: row.cid.map(str::to_owned),
            edited: row.edited_at.is_some(),
            deleted: row.deleted_at.is_some(),
        });
        (row, refused.iter().map(|r| r.event.rev.clone()).collect())
    }

    fn stored(rev: &str, deleted: bool, parent: Option<&str>) -> Option<Stored> {
        Some(Stored {
            rev: rev.into(),
            deleted,
            root_uri: parent.map(|_| POST.to_owned()),
            parent_uri: parent.map(str::to_owned),
        })
    }

    fn row(
        rev: &str,
        origin: Option<&str>,
        live: Option<&str>,
        cid: Option<&str>,
        edited: bool,
        deleted: bool,
    ) -> Option<Seen> {
        Some(Seen {
            rev: rev.into(),
            origin: origin.map(Into::into),
            live: live.map(Into::into),
            cid: cid.map(Into::into),
            edited,
            deleted,
        })
    }

    #[test]
    fn commits_apply_in_rev_order_whatever_the_batch_order() {
        let events = [delete("3kr3"), update("3kr2", POST, "edited"), create("3kr1", POST, "first")];
        // Created, edited and deleted: a placeholder keeping the thread position and CID.
        assert_eq!(run(None, &events), (row("3kr3", Some(POST), None, Some("cid3kr2"), true, true), vec![]));
        let events = [update("3kr2", POST, "edited"), create("3kr1", POST, "first")];
        assert_eq!(run(None, &events), (row("3kr2", Some(POST), Some("edited"), Some("cid3kr2"), true, false), vec![]));
    }

    #[test]
    fn replays_and_overtaken_commits_change_nothing() {
        let live = stored("3kr5", false, Some(POST));
        assert_eq!(run(live.clone(), &[create("3kr5", POST, "again"), delete("3kr4")]), (None, vec![]));
        let tombstone = stored("3kr2", true, None);
        assert_eq!(run(tombstone, &[create("3kr1", POST, "late")]), (None, vec![]), "a delete that came first wins");
    }

    #[test]
    fn updates_keep_the_thread_position() {
        let live = stored("3kr1", false, Some(POST));
        assert_eq!(
            run(live.clone(), &[update("3kr2", POST, "new")]).0,
            row("3kr2", None, Some("new"), Some("cid3kr2"), true, false)
        );
        assert_eq!(run(live, &[update("3kr2", OTHER, "moved")]), (None, vec!["3kr2".to_owned()]));
        // Within a batch, against the version the batch created.
        let events = [create("3kr1", POST, "first"), update("3kr2", OTHER, "moved"), update("3kr3", POST, "ok")];
        assert_eq!(
            run(None, &events),
            (row("3kr3", Some(POST), Some("ok"), Some("cid3kr3"), true, false), vec!["3kr2".to_owned()])
        );
        // An update of a deleted comment is not applied to it...
        let deleted = stored("3kr2", true, Some(POST));
        assert_eq!(
            run(deleted, &[update("3kr3", OTHER, "back")]).0,
            row("3kr3", Some(OTHER), Some("back"), Some("cid3kr3"), true, false),
            "... it stands for a re-create not seen yet"
        );
    }

    #[test]
    fn creates_revive_deleted_comments_and_replace_overtaken_live_ones() {
        let deleted = stored("3kr2", true, Some(POST));
        assert_eq!(
            run(deleted, &[create("3kr3", OTHER, "again")]).0,
            row("3kr3", Some(OTHER), Some("again"), Some("cid3kr3"), false, false)
        );
        // Delete and re-create in one batch: the stored live comment is replaced.
        let live = stored("3kr1", false, Some(POST));
        let events = [create("3kr3", OTHER, "again"), delete("3kr2")];
        assert_eq!(
            run(live.clone(), &events).0,
            row("3kr3", Some(OTHER), Some("again"), Some("cid3kr3"), false, false)
        );
        // A newer create of a live comment follows a delete not seen yet.
        assert_eq!(
            run(live, &[create("3kr3", OTHER, "again")]).0,
            row("3kr3", Some(OTHER), Some("again"), Some("cid3kr3"), false, false)
        );
    }

    #[test]
    fn deletes_keep_what_they_need() {
        let live = stored("3kr1", false, Some(POST));
        assert_eq!(run(live, &[delete("3kr2")]).0, row("3kr2", None, None, None, false, true), "stored position kept");
        assert_eq!(run(None, &[delete("3kr2")]).0, row("3kr2", None, None, None, false, true), "a tombstone");
        let deleted = stored("3kr2", true, Some(POST));
        assert_eq!(run(deleted, &[delete("3kr4")]).0, row("3kr4", None, None, None, false, true));
    }

    #[test]
    fn only_updates_and_several_commits_need_the_stored_state() {
        let single = [create("3kr1", POST, "x")];
        let commits_single = commits(&single);
        assert!(!needs_stored(&by_comment(&commits_single).into_values().next().expect("one")));
        let with_update = [update("3kr1", POST, "x")];
        let commits_update = commits(&with_update);
        assert!(needs_stored(&by_comment(&commits_update).into_values().next().expect("one")));
        let two = [create("3kr1", POST, "x"), delete("3kr2")];
        let commits_two = commits(&two);
        assert!(needs_stored(&by_comment(&commits_two).into_values().next().expect("one")));
    }
}
