//! The synthetic Jetstream generator: determinism, wire shape, identifiers, references, and
//! an independent recount of the expected aggregates from the emitted events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use clap::Parser;
use coves_appview::generate::{
    CommentCounts, CommunityCounts, GenerateArgs, Mix, Options, PostCounts, Summary, generate, run,
};
use coves_plugin_api::syntax::{AtUri, Cid, Did, Handle, Nsid, RecordKey, Tid, parse_datetime_lenient};
use serde_json::Value;

fn gen_bytes(options: &Options) -> (Vec<u8>, Summary) {
    let mut out = Vec::new();
    let summary = generate(options, &mut out).expect("generates");
    (out, summary)
}

fn options(events: u64, seed: u64) -> Options {
    Options { events, seed, ..Options::default() }
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    assert!(text.is_empty() || text.ends_with('\n'), "output ends with a newline");
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, sa) = gen_bytes(&options(5_000, 7));
    let (b, sb) = gen_bytes(&options(5_000, 7));
    assert!(a == b, "same seed must give identical bytes");
    assert_eq!(sa, sb);
    let (c, sc) = gen_bytes(&options(5_000, 8));
    assert!(a != c, "another seed must give other bytes");
    assert_ne!(sa.posts, sc.posts);
    assert_eq!(sa.events, 5_000);
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 5_000);
}

#[test]
fn a_longer_run_starts_with_the_shorter_one() {
    // The stream is generated event by event: a prefix only differs where the end-of-stream
    // reactivations kick in, which needs deactivated accounts at the cut.
    let (short, _) = gen_bytes(&options(2_000, 3));
    let (long, _) = gen_bytes(&options(4_000, 3));
    let n = short.split(|&b| b == b'\n').count() - 1;
    let long_prefix: Vec<&[u8]> = long.split(|&b| b == b'\n').take(n).collect();
    let short_lines: Vec<&[u8]> = short.split(|&b| b == b'\n').take(n).collect();
    let same = long_prefix.iter().zip(&short_lines).take_while(|(a, b)| a == b).count();
    assert!(same >= n - 10, "only the tail may differ: {same} of {n} lines equal");
}

/// Envelope, identifiers, time and rev ordering, identity-before-records, account pairs.
#[test]
fn every_line_is_a_valid_jetstream_event() {
    let opts = options(20_000, 11);
    let (bytes, summary) = gen_bytes(&opts);
    let events = lines(&bytes);
    assert_eq!(events.len(), 20_000);
    assert_eq!(summary.events, 20_000);

    let mut last_time = 0u64;
    let mut last_rev: HashMap<String, Tid> = HashMap::new();
    let mut last_rkey: HashMap<(String, String), Tid> = HashMap::new();
    let mut identities: HashMap<String, String> = HashMap::new();
    let mut inactive: HashSet<String> = HashSet::new();
    let mut created: HashSet<String> = HashSet::new();
    let mut handles = HashSet::new();
    let start = u64::try_from(opts.start.timestamp_micros()).expect("positive");

    for (i, e) in events.iter().enumerate() {
        let obj = e.as_object().expect("object");
        let did = str_of(e, "did");
        Did::new(did).expect("valid DID");
        let time_us = e["time_us"].as_u64().expect("time_us");
        assert!(time_us > last_time, "line {i}: time_us must strictly increase");
        if i == 0 {
            assert_eq!(time_us, start);
        }
        last_time = time_us;
        match str_of(e, "kind") {
            "identity" => {
                assert_eq!(obj.keys().map(String::as_str).collect::<Vec<_>>(), ["did", "identity", "kind", "time_us"]);
                let id = &e["identity"];
                assert_eq!(str_of(id, "did"), did);
                let handle = str_of(id, "handle");
                Handle::new(handle).expect("valid handle");
                assert!(handle.ends_with(".coves.test"), "{handle}");
                assert!(handles.insert(handle.to_owned()), "handles are unique: {handle}");
                assert!(id["seq"].as_u64().is_some());
                let time = parse_datetime_lenient(str_of(id, "time")).expect("time");
                assert!(time.timestamp_micros() as u64 <= time_us);
                assert!(identities.insert(did.to_owned(), handle.to_owned()).is_none(), "one identity per DID");
            }
            "account" => {
                let account = &e["account"];
                assert_eq!(str_of(account, "did"), did);
                assert!(identities.contains_key(did), "account event for an unknown DID");
                let active = account["active"].as_bool().expect("active");
                if active {
                    assert!(inactive.remove(did), "reactivation of an active account");
                    assert!(account.get("status").is_none());
                } else {
                    assert!(inactive.insert(did.to_owned()), "double deactivation");
                    assert_eq!(str_of(account, "status"), "deactivated");
                }
            }
            "commit" => {
                assert_eq!(obj.keys().map(String::as_str).collect::<Vec<_>>(), ["commit", "did", "kind", "time_us"]);
                assert!(identities.contains_key(did), "line {i}: commit before the repo's identity event");
                assert!(!inactive.contains(did), "line {i}: commit by a deactivated account");
                let c = &e["commit"];
                let rev = Tid::new(str_of(c, "rev")).expect("rev is a TID");
                assert_eq!(rev.timestamp_micros(), time_us, "rev carries time_us");
                if let Some(prev) = last_rev.insert(did.to_owned(), rev.clone()) {
                    assert!(rev > prev, "line {i}: rev must increase per repo");
                }
                let collection = Nsid::new(str_of(c, "collection")).expect("NSID");
                assert!(collection.as_str().starts_with("social.coves."));
                let rkey = RecordKey::new(str_of(c, "rkey")).expect("record key");
                let is_profile = collection.as_str().ends_with(".profile");
                if is_profile {
                    assert_eq!(rkey.as_str(), "self");
                }
                let uri = format!("at://{did}/{collection}/{rkey}");
                AtUri::new(uri.as_str()).expect("URI");
                let op = str_of(c, "operation");
                match op {
                    "create" | "update" => {
                        let keys: Vec<&str> = c.as_object().expect("commit").keys().map(String::as_str).collect();
                        assert_eq!(keys, ["cid", "collection", "operation", "record", "rev", "rkey"]);
                        let cid = str_of(c, "cid");
                        Cid::new(cid).expect("CID");
                        assert!(cid.starts_with("bafyrei") && cid.len() == 59, "{cid}");
                        assert!(cid[7..].bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
                        let record = &c["record"];
                        assert_eq!(str_of(record, "$type"), collection.as_str());
                        let created_at = parse_datetime_lenient(str_of(record, "createdAt")).expect("createdAt");
                        let created_us = created_at.timestamp_micros() as u64;
                        assert!(created_us <= time_us, "createdAt not after time_us");
                        if op == "create" {
                            assert!(time_us - created_us < 1_000_000, "createdAt within a second of time_us");
                            assert!(created.insert(uri.clone()), "line {i}: URI created twice");
                        } else {
                            assert!(created.contains(&uri), "update of an unknown URI");
                        }
                        if !is_profile {
                            let tid = Tid::new(rkey.as_str()).expect("rkey is a TID");
                            assert_eq!(tid.timestamp_micros() / 1000, created_us / 1000, "rkey time = createdAt");
                            if op == "create" {
                                let key = (did.to_owned(), collection.as_str().to_owned());
                                if let Some(prev) = last_rkey.insert(key, tid.clone()) {
                                    assert!(tid > prev, "rkeys increase with time");
                                }
                            }
                        }
                    }
                    "delete" => {
                        let keys: Vec<&str> = c.as_object().expect("commit").keys().map(String::as_str).collect();
                        assert_eq!(keys, ["collection", "operation", "rev", "rkey"]);
                        assert!(created.contains(&uri), "line {i}: delete of an unknown URI");
                    }
                    other => panic!("operation {other}"),
                }
            }
            other => panic!("kind {other}"),
        }
    }
    assert!(inactive.is_empty(), "every deactivated account is reactivated: {inactive:?}");
    assert_eq!(summary.totals.deactivated_at_end, 0);
    assert!(summary.totals.deactivations > 0, "some account events: {:?}", summary.totals);
    // Communities and users have the handles the Summary names.
    for (did, c) in &summary.communities {
        assert_eq!(identities.get(did), Some(&c.handle));
        assert!(c.handle.starts_with("c-"));
    }
    for (did, a) in &summary.actors {
        assert_eq!(identities.get(did), Some(&a.handle));
    }
    assert_eq!(identities.len() as u64, summary.totals.users + summary.totals.communities);
}

// ---------------------------------------------------------------------------------------
// Independent recount.

#[derive(Clone)]
struct Rec {
    repo: String,
    collection: String,
    rkey: String,
    cid: String,
    record: Value,
    live: bool,
    updates: u64,
}

/// The stream replayed into a plain record table, checking references on the way.
struct Replay {
    records: HashMap<String, Rec>,
    order: Vec<String>,
    frozen_posts: HashMap<String, PostCounts>,
    frozen_comments: HashMap<String, CommentCounts>,
    by_kind: BTreeMap<String, u64>,
    by_collection: BTreeMap<String, u64>,
    by_operation: BTreeMap<String, u64>,
    by_collection_operation: BTreeMap<String, BTreeMap<String, u64>>,
}

const POST: &str = "social.coves.community.post";
const COMMENT: &str = "social.coves.community.comment";
const VOTE: &str = "social.coves.feed.vote";
const SUBSCRIPTION: &str = "social.coves.community.subscription";
const BLOCK: &str = "social.coves.community.block";
const COMMUNITY_PROFILE: &str = "social.coves.community.profile";

impl Replay {
    fn new(events: &[Value]) -> Self {
        let mut r = Replay {
            records: HashMap::new(),
            order: Vec::new(),
            frozen_posts: HashMap::new(),
            frozen_comments: HashMap::new(),
            by_kind: BTreeMap::new(),
            by_collection: BTreeMap::new(),
            by_operation: BTreeMap::new(),
            by_collection_operation: BTreeMap::new(),
        };
        for e in events {
            *r.by_kind.entry(str_of(e, "kind").to_owned()).or_default() += 1;
            if str_of(e, "kind") != "commit" {
                continue;
            }
            let did = str_of(e, "did");
            let c = &e["commit"];
            let (collection, rkey, op) = (str_of(c, "collection"), str_of(c, "rkey"), str_of(c, "operation"));
            *r.by_collection.entry(collection.to_owned()).or_default() += 1;
            *r.by_operation.entry(op.to_owned()).or_default() += 1;
            *r.by_collection_operation.entry(collection.to_owned()).or_default().entry(op.to_owned()).or_default() += 1;
            let uri = format!("at://{did}/{collection}/{rkey}");
            match op {
                "create" => {
                    let record = c["record"].clone();
                    r.check_references(collection, &record);
                    r.order.push(uri.clone());
                    let rec = Rec {
                        repo: did.to_owned(),
                        collection: collection.to_owned(),
                        rkey: rkey.to_owned(),
                        cid: str_of(c, "cid").to_owned(),
                        record,
                        live: true,
                        updates: 0,
                    };
                    assert!(r.records.insert(uri, rec).is_none(), "re-created URI");
                }
                "update" => {
                    let rec = r.records.get_mut(&uri).expect("update of a known URI");
                    assert!(rec.live, "update of a deleted record");
                    if collection == POST {
                        for key in ["author", "community", "createdAt", "title"] {
                            assert_eq!(rec.record[key], c["record"][key], "post update keeps {key}");
                        }
                        assert_ne!(rec.record["content"], c["record"]["content"], "post update changes content");
                        rec.updates += 1;
                    }
                    rec.record = c["record"].clone();
                    rec.cid = str_of(c, "cid").to_owned();
                }
                "delete" => {
                    // Freeze the subject's counters as they are just before the delete.
                    match collection {
                        POST => {
                            let counts = r.post_counts(&uri, &r.index(Some(&uri)));
                            r.frozen_posts.insert(uri.clone(), PostCounts { deleted: true, ..counts });
                        }
                        COMMENT => {
                            let counts = r.comment_counts(&uri, &r.index(Some(&uri)));
                            r.frozen_comments.insert(uri.clone(), CommentCounts { deleted: true, ..counts });
                        }
                        _ => {}
                    }
                    let rec = r.records.get_mut(&uri).expect("delete of a known URI");
                    assert!(rec.live, "double delete");
                    rec.live = false;
                }
                other => panic!("operation {other}"),
            }
        }
        r
    }

    /// A strongRef must name a record created earlier, live, with its current CID.
    fn check_ref(&self, strong_ref: &Value, collections: &[&str]) -> String {
        let uri = str_of(strong_ref, "uri");
        let target = self.records.get(uri).unwrap_or_else(|| panic!("reference to unknown {uri}"));
        assert!(target.live, "reference to deleted {uri}");
        assert!(collections.contains(&target.collection.as_str()), "{uri} has the wrong collection");
        assert_eq!(str_of(strong_ref, "cid"), target.cid, "strongRef carries the current CID of {uri}");
        uri.to_owned()
    }

    fn check_references(&self, collection: &str, record: &Value) {
        match collection {
            VOTE => {
                self.check_ref(&record["subject"], &[POST, COMMENT]);
                assert!(matches!(str_of(record, "direction"), "up" | "down"));
            }
            COMMENT => {
                let root = self.check_ref(&record["reply"]["root"], &[POST]);
                let parent = self.check_ref(&record["reply"]["parent"], &[POST, COMMENT]);
                if parent.contains(POST) {
                    assert_eq!(parent, root, "a top-level comment's parent is its root");
                } else {
                    assert_eq!(str_of(&self.records[&parent].record["reply"]["root"], "uri"), root, "same thread");
                }
                assert!(!str_of(record, "content").is_empty());
            }
            POST => {
                let community = str_of(record, "community");
                let profile = format!("at://{community}/{COMMUNITY_PROFILE}/self");
                assert!(self.records.contains_key(&profile), "post in an unknown community");
                Did::new(str_of(record, "author")).expect("author DID");
            }
            SUBSCRIPTION | BLOCK => {
                let subject = str_of(record, "subject");
                assert!(self.records.contains_key(&format!("at://{subject}/{COMMUNITY_PROFILE}/self")));
                if collection == SUBSCRIPTION {
                    let v = record["contentVisibility"].as_u64().expect("contentVisibility");
                    assert!((1..=5).contains(&v));
                }
            }
            COMMUNITY_PROFILE => {
                assert_eq!(str_of(record, "hostedBy"), "did:web:coves.test");
                Did::new(str_of(record, "createdBy")).expect("createdBy");
                assert!(matches!(str_of(record, "visibility"), "public" | "unlisted"));
            }
            _ => {}
        }
    }

    fn live(&self, collection: &'static str) -> impl Iterator<Item = &Rec> {
        self.records.values().filter(move |r| r.live && r.collection == collection)
    }

    /// Effective votes per subject — per (voter, subject) the live vote with the greatest
    /// (createdAt, rkey) (COVES_API §2.1) — and live comments per parent and per root. Only
    /// about `only` when given.
    fn index(&self, only: Option<&str>) -> Index {
        let wanted = |uri: &str| only.is_none_or(|o| o == uri);
        let mut best: HashMap<(&str, &str), (&str, &str, bool)> = HashMap::new();
        let mut index = Index::default();
        for r in self.records.values().filter(|r| r.live) {
            match r.collection.as_str() {
                VOTE => {
                    let subject = str_of(&r.record["subject"], "uri");
                    if !wanted(subject) {
                        continue;
                    }
                    let key = (str_of(&r.record, "createdAt"), r.rkey.as_str(), r.record["direction"] == "up");
                    let slot = best.entry((r.repo.as_str(), subject)).or_insert(key);
                    if (key.0, key.1) > (slot.0, slot.1) {
                        *slot = key;
                    }
                }
                COMMENT => {
                    let parent = str_of(&r.record["reply"]["parent"], "uri");
                    let root = str_of(&r.record["reply"]["root"], "uri");
                    if wanted(parent) {
                        *index.by_parent.entry(parent.to_owned()).or_default() += 1;
                    }
                    if wanted(root) {
                        *index.by_root.entry(root.to_owned()).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        for ((_, subject), (_, _, up)) in best {
            let c = index.votes.entry(subject.to_owned()).or_default();
            if up { c.0 += 1 } else { c.1 += 1 }
        }
        index
    }

    fn post_counts(&self, uri: &str, index: &Index) -> PostCounts {
        let rec = &self.records[uri];
        let (up, down) = index.votes.get(uri).copied().unwrap_or_default();
        PostCounts {
            community: rec.repo.clone(),
            author: str_of(&rec.record, "author").to_owned(),
            cid: rec.cid.clone(),
            upvotes: up,
            downvotes: down,
            score: up as i64 - down as i64,
            comment_count: index.by_parent.get(uri).copied().unwrap_or(0),
            total_comment_count: index.by_root.get(uri).copied().unwrap_or(0),
            updates: rec.updates,
            deleted: !rec.live,
        }
    }

    fn depth(&self, uri: &str) -> u64 {
        let parent = str_of(&self.records[uri].record["reply"]["parent"], "uri");
        if parent.contains(POST) { 1 } else { 1 + self.depth(parent) }
    }

    fn comment_counts(&self, uri: &str, index: &Index) -> CommentCounts {
        let rec = &self.records[uri];
        let (up, down) = index.votes.get(uri).copied().unwrap_or_default();
        CommentCounts {
            author: rec.repo.clone(),
            post: str_of(&rec.record["reply"]["root"], "uri").to_owned(),
            parent: str_of(&rec.record["reply"]["parent"], "uri").to_owned(),
            depth: self.depth(uri),
            upvotes: up,
            downvotes: down,
            score: up as i64 - down as i64,
            reply_count: index.by_parent.get(uri).copied().unwrap_or(0),
            deleted: !rec.live,
        }
    }
}

/// Live counts by subject URI.
#[derive(Default)]
struct Index {
    votes: HashMap<String, (u64, u64)>,
    by_parent: HashMap<String, u64>,
    by_root: HashMap<String, u64>,
}

#[test]
fn an_independent_recount_equals_the_summary() {
    let (bytes, summary) = gen_bytes(&options(20_000, 5));
    let events = lines(&bytes);
    let replay = Replay::new(&events);

    assert_eq!(summary.by_kind, replay.by_kind);
    assert_eq!(summary.by_collection, replay.by_collection);
    assert_eq!(summary.by_operation, replay.by_operation);
    assert_eq!(summary.by_collection_operation, replay.by_collection_operation);
    assert_eq!(summary.first_time_us, events[0]["time_us"].as_u64().expect("time"));
    assert_eq!(summary.last_time_us, events[events.len() - 1]["time_us"].as_u64().expect("time"));

    // Posts and comments: a plain recount over the final live records. For deleted subjects
    // it must also equal the counters frozen at deletion.
    let index = replay.index(None);
    let mut posts = BTreeMap::new();
    let mut comments = BTreeMap::new();
    for uri in &replay.order {
        match replay.records[uri].collection.as_str() {
            POST => {
                let counts = replay.post_counts(uri, &index);
                if let Some(frozen) = replay.frozen_posts.get(uri) {
                    assert_eq!(&counts, frozen, "deleted post {uri}: frozen counters = recount");
                }
                posts.insert(uri.clone(), counts);
            }
            COMMENT => {
                let counts = replay.comment_counts(uri, &index);
                if let Some(frozen) = replay.frozen_comments.get(uri) {
                    assert_eq!(&counts, frozen, "deleted comment {uri}: frozen counters = recount");
                }
                comments.insert(uri.clone(), counts);
            }
            _ => {}
        }
    }
    assert_eq!(summary.posts.len(), posts.len());
    for (uri, expected) in &posts {
        assert_eq!(summary.posts.get(uri), Some(expected), "post {uri}");
    }
    assert_eq!(summary.comments.len(), comments.len());
    for (uri, expected) in &comments {
        assert_eq!(summary.comments.get(uri), Some(expected), "comment {uri}");
    }

    // Communities.
    let mut communities = BTreeMap::new();
    for profile in replay.live(COMMUNITY_PROFILE) {
        let did = profile.repo.clone();
        let subscribers: HashSet<&str> = replay
            .live(SUBSCRIPTION)
            .filter(|s| str_of(&s.record, "subject") == did)
            .map(|s| s.repo.as_str())
            .collect();
        let blockers: HashSet<&str> =
            replay.live(BLOCK).filter(|s| str_of(&s.record, "subject") == did).map(|s| s.repo.as_str()).collect();
        let post_count = replay.live(POST).filter(|p| p.repo == did).count() as u64;
        let name = str_of(&profile.record, "name").to_owned();
        let counts = CommunityCounts {
            handle: format!("c-{name}.coves.test"),
            name,
            visibility: str_of(&profile.record, "visibility").to_owned(),
            subscriber_count: subscribers.len() as u64,
            post_count,
            blocked_by: blockers.len() as u64,
        };
        communities.insert(did, counts);
    }
    assert_eq!(summary.communities, communities);

    // Actors.
    for (did, actor) in &summary.actors {
        let posts = replay.live(POST).filter(|p| str_of(&p.record, "author") == did).count() as u64;
        let comments = replay.live(COMMENT).filter(|c| &c.repo == did).count() as u64;
        let subscribed: HashSet<&str> =
            replay.live(SUBSCRIPTION).filter(|s| &s.repo == did).map(|s| str_of(&s.record, "subject")).collect();
        let profile =
            replay.records.get(&format!("at://{did}/social.coves.actor.profile/self")).is_some_and(|r| r.live);
        assert_eq!(
            (actor.post_count, actor.comment_count, actor.community_count, actor.has_profile),
            (posts, comments, subscribed.len() as u64, profile),
            "actor {did}"
        );
    }

    // Totals.
    let t = &summary.totals;
    let count = |collection: &'static str, live: bool| {
        replay.records.values().filter(|r| r.collection == collection && r.live == live).count() as u64
    };
    assert_eq!((t.posts_live, t.posts_deleted), (count(POST, true), count(POST, false)));
    assert_eq!((t.comments_live, t.comments_deleted), (count(COMMENT, true), count(COMMENT, false)));
    assert_eq!(t.votes_live, count(VOTE, true));
    assert_eq!(t.votes_created, count(VOTE, true) + count(VOTE, false));
    assert_eq!(t.subscriptions_live, count(SUBSCRIPTION, true));
    assert_eq!(t.blocks_live, count(BLOCK, true));
    let ups = replay.live(VOTE).filter(|v| v.record["direction"] == "up").count() as u64;
    assert_eq!((t.votes_live_up, t.votes_live_down), (ups, t.votes_live - ups));
    assert_eq!(t.post_updates, posts.values().map(|p| p.updates).sum::<u64>());
    assert_eq!(t.max_comment_depth, comments.values().map(|c| c.depth).max().unwrap_or(0));

    // The run exercises what the counts are about.
    assert!(t.posts_deleted > 0 && t.comments_deleted > 0 && t.post_updates > 0, "{t:?}");
    assert!(t.votes_deleted > 0 && t.vote_switches > 0, "{t:?}");
    assert!(t.max_comment_depth >= 4, "threads several levels deep: {t:?}");
    assert!(t.subscriptions_live > t.subscribed_pairs, "duplicate subscriptions occur: {t:?}");
    assert!(posts.values().any(|p| p.deleted && p.upvotes + p.total_comment_count > 0), "deleted posts had activity");
    assert!(comments.values().any(|c| c.deleted && c.reply_count > 0), "deleted comments with live replies");
    let has_embed = replay.live(POST).any(|p| p.record.get("embed").is_some());
    assert!(has_embed, "some posts embed a link");
    let c = &summary.by_collection;
    assert!(c[VOTE] > c[COMMENT] && c[COMMENT] > c[POST] && c[POST] > c[SUBSCRIPTION] && c[SUBSCRIPTION] > c[BLOCK]);
}

#[test]
fn recount_holds_for_an_aggressive_delete_mix_and_tiny_worlds() {
    let mut mix = Mix::default();
    mix.apply_overrides(&[
        "post_delete=60".into(),
        "comment_delete=80".into(),
        "unvote=150".into(),
        "revote=150".into(),
    ])
    .expect("mix");
    for (users, communities, seed) in [(3, 1, 1), (40, 3, 2), (1, 1, 3)] {
        let opts = Options { events: 4_000, seed, users, communities, mix: mix.clone(), ..Options::default() };
        let (bytes, summary) = gen_bytes(&opts);
        let events = lines(&bytes);
        assert_eq!(events.len(), 4_000);
        let replay = Replay::new(&events);
        let index = replay.index(None);
        for (uri, counts) in &summary.posts {
            assert_eq!(&replay.post_counts(uri, &index), counts, "post {uri}");
        }
        for (uri, counts) in &summary.comments {
            assert_eq!(&replay.comment_counts(uri, &index), counts, "comment {uri}");
        }
        assert_eq!(summary.by_collection, replay.by_collection);
    }
}

#[test]
fn short_streams_and_options() {
    for n in [0, 1, 2, 3, 7, 50] {
        let (bytes, summary) = gen_bytes(&options(n, 1));
        assert_eq!(lines(&bytes).len() as u64, n);
        assert_eq!(summary.events, n);
    }
    // Totals only: no per-subject maps, same totals.
    let (a, full) = gen_bytes(&options(3_000, 4));
    let (b, lean) = gen_bytes(&Options { details: false, ..options(3_000, 4) });
    assert!(a == b);
    assert!(lean.posts.is_empty() && lean.comments.is_empty() && lean.actors.is_empty());
    assert_eq!((lean.totals, lean.communities), (full.totals, full.communities));
    // Exact spacing.
    let (bytes, _) = gen_bytes(&Options { spacing_us: 10, jitter_percent: 0, ..options(100, 1) });
    let times: Vec<u64> = lines(&bytes).iter().map(|e| e["time_us"].as_u64().expect("time")).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] == 10));
    // Invalid options.
    assert!(generate(&Options { users: 0, ..Options::default() }, &mut Vec::new()).is_err());
    let mut mix = Mix::default();
    assert!(mix.apply_overrides(&["nope=1".into()]).is_err());
    assert!(mix.apply_overrides(&["vote".into()]).is_err());
}

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    args: GenerateArgs,
}

#[test]
fn run_writes_the_events_and_the_expected_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("events.jsonl");
    let expected = dir.path().join("expected.json");
    let cli = TestCli::try_parse_from([
        "gen",
        "--events",
        "1500",
        "--seed",
        "9",
        "--users",
        "50",
        "--communities",
        "4",
        "--start",
        "2026-03-01T12:00:00Z",
        "--spacing-us",
        "2000",
        "--mix",
        "vote=100,block=0,unblock=0",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--expected",
        expected.to_str().expect("utf-8 path"),
    ])
    .expect("arguments parse");
    let summary = run(&cli.args).expect("runs");
    let bytes = std::fs::read(&out).expect("events file");
    let events = lines(&bytes);
    assert_eq!(events.len(), 1500);
    let start: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().expect("date");
    assert_eq!(events[0]["time_us"].as_u64(), Some(start.timestamp_micros() as u64));
    let written: Summary = serde_json::from_slice(&std::fs::read(&expected).expect("summary file")).expect("json");
    assert_eq!(written, summary);
    assert_eq!(summary.communities.len(), 4);
    assert!(!summary.by_collection.contains_key(BLOCK));
    let (again, _) = gen_bytes(&Options::from_args(&cli.args).expect("options"));
    assert!(again == bytes, "run and generate agree");
}

#[test]
#[ignore = "a million events; slow in a debug build (run with --release --ignored)"]
fn a_million_events_stream_quickly() {
    let opts = Options { events: 1_000_000, details: false, ..Options::default() };
    let started = Instant::now();
    let mut sink = CountingSink::default();
    let summary = generate(&opts, &mut sink).expect("generates");
    let elapsed = started.elapsed();
    println!(
        "1,000,000 events, {} MB, in {elapsed:.2?} ({:.0} events/s); totals: {:?}",
        sink.bytes / 1_000_000,
        1e6 / elapsed.as_secs_f64(),
        summary.totals
    );
    assert_eq!(summary.events, 1_000_000);
    assert_eq!(sink.lines, 1_000_000);
}

#[test]
fn a_hundred_thousand_events_stream() {
    let opts = Options { events: 100_000, ..Options::default() };
    let started = Instant::now();
    let mut sink = CountingSink::default();
    let summary = generate(&opts, &mut sink).expect("generates");
    println!("100,000 events, {} MB, in {:.2?}", sink.bytes / 1_000_000, started.elapsed());
    assert_eq!((summary.events, sink.lines), (100_000, 100_000));
}

/// Counts bytes and lines without keeping them.
#[derive(Default)]
struct CountingSink {
    bytes: u64,
    lines: u64,
}

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        self.lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
