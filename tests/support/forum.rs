//! A small forum for read tests: readable communities and actors set up directly (without
//! waiting for the identity checks), and records built with increasing TIDs and revs.

use std::sync::atomic::{AtomicI64, Ordering};

use coves_appview::ingest::Event;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::TestApp;
use crate::events::{create, delete};
use crate::network::TEST_PDS;

pub const PROFILE: &str = "social.coves.community.profile";
pub const POST: &str = "social.coves.community.post";
pub const COMMENT: &str = "social.coves.community.comment";
pub const VOTE: &str = "social.coves.feed.vote";
pub const SUBSCRIPTION: &str = "social.coves.community.subscription";
pub const BLOCK: &str = "social.coves.community.block";

/// A record's identity: what a strongRef names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    pub uri: String,
    pub cid: String,
    pub rkey: String,
}

impl Ref {
    /// `{uri, cid}`.
    pub fn strong(&self) -> Value {
        json!({"uri": self.uri, "cid": self.cid})
    }
}

/// Hands out TIDs (record keys and revs) in increasing order, and event times.
#[derive(Default)]
pub struct Forum {
    clock: AtomicI64,
}

impl Forum {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next TID-shaped key (also used as rev and as event time).
    fn tick(&self) -> (String, i64) {
        let n = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        (format!("3la{n:010}"), 1_000_000 + n)
    }

    /// A create of `record` in `did`'s `collection`, with its ref.
    pub fn create(&self, did: &str, collection: &str, record: Value) -> (Ref, Event) {
        let (tid, time_us) = self.tick();
        let event = create(did, collection, &tid, &tid, time_us, record);
        let cid = match &event {
            Event::Commit(c) => match &c.op {
                coves_plugin_api::CommitOp::Create { cid, .. } => cid.clone(),
                _ => unreachable!("a create"),
            },
            _ => unreachable!("a commit"),
        };
        (Ref { uri: format!("at://{did}/{collection}/{tid}"), cid, rkey: tid }, event)
    }

    /// A delete of the record `target` (in `did`'s repo).
    pub fn delete(&self, did: &str, collection: &str, target: &Ref) -> Event {
        let (rev, time_us) = self.tick();
        delete(did, collection, &target.rkey, &rev, time_us)
    }

    /// A post by `author` in `community`, created at `created_at` (RFC 3339).
    pub fn post(&self, community: &str, author: &str, title: &str, created_at: &str) -> (Ref, Event) {
        self.create(
            community,
            POST,
            json!({"$type": POST, "community": community, "author": author, "title": title,
                   "content": format!("{title}, the body."), "createdAt": created_at}),
        )
    }

    /// A comment by `author` on `root`, replying to `parent`.
    pub fn comment(&self, author: &str, root: &Ref, parent: &Ref, content: &str, created_at: &str) -> (Ref, Event) {
        self.create(
            author,
            COMMENT,
            json!({"$type": COMMENT, "reply": {"root": root.strong(), "parent": parent.strong()},
                   "content": content, "createdAt": created_at}),
        )
    }

    /// A vote by `voter` on `subject`, `up` or `down`.
    pub fn vote(&self, voter: &str, subject: &Ref, direction: &str) -> (Ref, Event) {
        let (tid, _) = self.tick();
        // The vote's createdAt follows the clock too, so a later vote is the effective one.
        let created_at = format!("2026-01-01T00:00:00.{:06}Z", tid[3..].parse::<u64>().unwrap_or(0) % 1_000_000);
        self.create(
            voter,
            VOTE,
            json!({"$type": VOTE, "subject": subject.strong(), "direction": direction, "createdAt": created_at}),
        )
    }
}

/// Ingests a community profile and marks it verified as `c-{name}.coves.test` on the test
/// PDS, as the identity check would.
pub async fn readable_community(app: &TestApp, did: &str, name: &str) {
    let record = json!({"$type": PROFILE, "name": name, "displayName": format!("All about {name}"),
        "createdBy": "did:plc:creator222222222222222222", "hostedBy": "did:web:coves.test",
        "createdAt": "2026-01-01T00:00:00Z"});
    app.ingest(&[create(did, PROFILE, "self", "3kzzzzzzzzzzz", 1, record)]).await;
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query(
        "UPDATE communities SET handle = $2, pds_endpoint = $3, verified_at = now(), verify_after = NULL \
         WHERE did = $1",
    )
    .bind::<Text, _>(did)
    .bind::<Text, _>(format!("c-{name}.coves.test"))
    .bind::<Text, _>(TEST_PDS)
    .execute(&mut conn)
    .await
    .expect("community marked verified");
}

/// Makes `did` a known actor with the verified handle `handle`, with no identity check
/// due (the fake network does not know it, so a check would clear the handle).
pub async fn known_actor(app: &TestApp, did: &str, handle: &str) {
    let mut conn = app.pool.get().await.expect("connection");
    diesel::sql_query(
        "INSERT INTO actors (did, handle, pds_endpoint, handle_verified_at, verify_after) VALUES ($1, $2, $3, now(), NULL) \
         ON CONFLICT (did) DO UPDATE SET handle = $2, pds_endpoint = $3, handle_verified_at = now(), verify_after = NULL",
    )
    .bind::<Text, _>(did)
    .bind::<Text, _>(handle)
    .bind::<Text, _>(TEST_PDS)
    .execute(&mut conn)
    .await
    .expect("actor stored");
}

impl Forum {
    /// The createdAt of a record made now: it follows the clock, so a later record is the
    /// newest one.
    fn clock_time(&self) -> String {
        let n = AtomicI64::load(&self.clock, Ordering::Relaxed) + 1;
        format!("2026-01-01T00:00:00.{:06}Z", n % 1_000_000)
    }

    /// A subscription by `actor` to `community_did`, with `contentVisibility` when given.
    pub fn subscribe(&self, actor: &str, community_did: &str, visibility: Option<Value>) -> (Ref, Event) {
        let mut record = json!({"$type": SUBSCRIPTION, "subject": community_did, "createdAt": self.clock_time()});
        if let Some(visibility) = visibility {
            record["contentVisibility"] = visibility;
        }
        self.create(actor, SUBSCRIPTION, record)
    }

    /// A block of `community_did` by `actor`.
    pub fn block(&self, actor: &str, community_did: &str) -> (Ref, Event) {
        let record = json!({"$type": BLOCK, "subject": community_did, "createdAt": self.clock_time()});
        self.create(actor, BLOCK, record)
    }
}
