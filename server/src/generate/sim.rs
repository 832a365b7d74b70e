//! The generator's state machine: draws actions, writes their events and keeps the
//! simulated state the expected counts come from.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Write;

use anyhow::bail;
use chrono::DateTime;
use coves_plugin_api::syntax::{Tid, format_datetime};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::ids::{cid_for, plc_did};
use super::text;
use super::{ActorCounts, CommentCounts, CommunityCounts, Options, PostCounts, Summary, Totals};

/// How long before its event's `time_us` a record was written (its `createdAt` and rkey).
const CLIENT_LAG_US: u64 = 250;
/// Replies deeper than this go to the post instead.
const MAX_DEPTH: u32 = 32;
/// Attempts before an action counts as impossible right now.
const TRIES: usize = 8;
/// `seq` of the first identity/account event (then + event index).
const SEQ_BASE: u64 = 1_000_000;

const POST_NSID: &str = "social.coves.community.post";
const COMMENT_NSID: &str = "social.coves.community.comment";

#[derive(Clone, Copy, Debug)]
enum Collection {
    ActorProfile,
    CommunityProfile,
    Post,
    Comment,
    Vote,
    Subscription,
    Block,
}

impl Collection {
    const ALL: [Collection; 7] = [
        Collection::ActorProfile,
        Collection::CommunityProfile,
        Collection::Post,
        Collection::Comment,
        Collection::Vote,
        Collection::Subscription,
        Collection::Block,
    ];

    fn nsid(self) -> &'static str {
        match self {
            Collection::ActorProfile => "social.coves.actor.profile",
            Collection::CommunityProfile => "social.coves.community.profile",
            Collection::Post => POST_NSID,
            Collection::Comment => COMMENT_NSID,
            Collection::Vote => "social.coves.feed.vote",
            Collection::Subscription => "social.coves.community.subscription",
            Collection::Block => "social.coves.community.block",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    const ALL: [Op; 3] = [Op::Create, Op::Update, Op::Delete];

    fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

const KINDS: [&str; 3] = ["commit", "identity", "account"];

#[derive(Clone, Copy, Debug)]
enum Action {
    Vote,
    Revote,
    Unvote,
    Comment,
    CommentDelete,
    Post,
    PostUpdate,
    PostDelete,
    Subscribe,
    Unsubscribe,
    Block,
    Unblock,
    ProfileUpdate,
    Account,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Subject {
    Post(u32),
    Comment(u32),
}

// ---------------------------------------------------------------------------------------
// Records, with keys in the sorted order Jetstream emits.

#[derive(Serialize)]
struct StrongRef<'a> {
    cid: &'a str,
    uri: &'a str,
}

#[derive(Serialize)]
struct External {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    domain: &'static str,
    title: String,
    uri: String,
}

#[derive(Serialize)]
struct ExternalEmbed {
    #[serde(rename = "$type")]
    kind: &'static str,
    external: External,
}

#[derive(Serialize)]
struct PostRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    author: &'a str,
    community: &'a str,
    content: String,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    embed: Option<ExternalEmbed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    langs: Option<[&'static str; 1]>,
    title: String,
}

#[derive(Serialize)]
struct Reply<'a> {
    parent: StrongRef<'a>,
    root: StrongRef<'a>,
}

#[derive(Serialize)]
struct CommentRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    content: String,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    langs: Option<[&'static str; 1]>,
    reply: Reply<'a>,
}

#[derive(Serialize)]
struct VoteRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(rename = "createdAt")]
    created_at: String,
    direction: &'static str,
    subject: StrongRef<'a>,
}

#[derive(Serialize)]
struct SubscriptionRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(rename = "contentVisibility")]
    content_visibility: u8,
    #[serde(rename = "createdAt")]
    created_at: String,
    subject: &'a str,
}

#[derive(Serialize)]
struct BlockRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(rename = "createdAt")]
    created_at: String,
    subject: &'a str,
}

#[derive(Serialize)]
struct ActorProfileRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bio: Option<String>,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "displayName", skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
}

#[derive(Serialize)]
struct CommunityProfileRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "createdBy")]
    created_by: &'a str,
    description: String,
    #[serde(rename = "displayName")]
    display_name: &'a str,
    #[serde(rename = "hostedBy")]
    hosted_by: &'a str,
    name: &'a str,
    visibility: &'static str,
}

fn datetime(micros: u64) -> String {
    let dt = i64::try_from(micros).ok().and_then(DateTime::from_timestamp_micros).unwrap_or_default();
    format_datetime(&dt)
}

// ---------------------------------------------------------------------------------------
// Output.

/// Writes event lines and counts them.
struct Out<'a, W: Write> {
    w: &'a mut W,
    line: Vec<u8>,
    record: Vec<u8>,
    emitted: u64,
    first_time: u64,
    last_time: u64,
    kinds: [u64; 3],
    commits: [[u64; 3]; 7],
}

impl<W: Write> Out<'_, W> {
    fn begin(&mut self, t: u64) {
        if self.emitted == 0 {
            self.first_time = t;
        }
        self.emitted += 1;
        self.last_time = t;
        self.line.clear();
    }

    fn finish(&mut self, kind: usize) -> anyhow::Result<()> {
        self.line.push(b'\n');
        self.w.write_all(&self.line)?;
        self.kinds[kind] += 1;
        Ok(())
    }

    fn commit_head(&mut self, did: &str, clock: u16, t: u64, collection: Collection, op: Op, rkey: &str) {
        let rev = Tid::from_micros(t, clock);
        let _ = write!(
            self.line,
            r#"{{"did":"{did}","time_us":{t},"kind":"commit","commit":{{"rev":"{rev}","operation":"{}","collection":"{}","rkey":"{rkey}""#,
            op.as_str(),
            collection.nsid()
        );
        self.commits[collection as usize][op as usize] += 1;
    }

    /// A create or update; returns the record's CID.
    #[allow(clippy::too_many_arguments)]
    fn put<R: Serialize>(
        &mut self,
        did: &str,
        clock: u16,
        t: u64,
        collection: Collection,
        op: Op,
        rkey: &str,
        record: &R,
    ) -> anyhow::Result<String> {
        self.record.clear();
        serde_json::to_writer(&mut self.record, record)?;
        let cid = cid_for(&self.record);
        self.begin(t);
        self.commit_head(did, clock, t, collection, op, rkey);
        self.line.extend_from_slice(br#","record":"#);
        self.line.extend_from_slice(&self.record);
        let _ = write!(self.line, r#","cid":"{cid}"}}}}"#);
        self.finish(0)?;
        Ok(cid)
    }

    fn delete(&mut self, did: &str, clock: u16, t: u64, collection: Collection, rkey: &str) -> anyhow::Result<()> {
        self.begin(t);
        self.commit_head(did, clock, t, collection, Op::Delete, rkey);
        self.line.extend_from_slice(b"}}");
        self.finish(0)
    }

    fn identity(&mut self, did: &str, handle: &str, t: u64) -> anyhow::Result<()> {
        self.begin(t);
        let seq = SEQ_BASE + self.emitted;
        let time = datetime(t);
        let _ = write!(
            self.line,
            r#"{{"did":"{did}","time_us":{t},"kind":"identity","identity":{{"did":"{did}","handle":"{handle}","seq":{seq},"time":"{time}"}}}}"#
        );
        self.finish(1)
    }

    fn account(&mut self, did: &str, t: u64, active: bool) -> anyhow::Result<()> {
        self.begin(t);
        let seq = SEQ_BASE + self.emitted;
        let time = datetime(t);
        let status = if active { "" } else { r#""status":"deactivated","# };
        let _ = write!(
            self.line,
            r#"{{"did":"{did}","time_us":{t},"kind":"account","account":{{"active":{active},"did":"{did}","seq":{seq},{status}"time":"{time}"}}}}"#
        );
        self.finish(2)
    }
}

// ---------------------------------------------------------------------------------------
// Randomness.

/// The seeded stream every choice comes from (only `next_u64` of ChaCha8 is used, so the
/// output does not depend on `rand`'s distribution algorithms).
struct Rng(ChaCha8Rng);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index in `0..n` biased to the end (recent items): 30% uniform, else
    /// `n - 1 - n·u³`.
    fn recent(&mut self, n: usize) -> usize {
        if self.chance(0.3) {
            return self.below(n);
        }
        let u = self.unit();
        let back = (n as f64 * u * u * u) as usize;
        n - 1 - back.min(n - 1)
    }
}

/// Zipf-like popularity: index `i` with weight `1 / (i + 1)^s`.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|i| {
                total += 1.0 / ((i + 1) as f64).powf(s);
                total
            })
            .collect();
        Self { cumulative }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.unit() * total;
        self.cumulative.partition_point(|&c| c <= x).min(self.cumulative.len().saturating_sub(1))
    }
}

// ---------------------------------------------------------------------------------------
// State.

struct User {
    did: String,
    name: String,
    display_name: String,
    clock: u16,
    wants_profile: bool,
    onboarded: bool,
    has_profile: bool,
    profile_created_us: u64,
    active: bool,
    posts_live: u64,
    comments_live: u64,
    subscribed: u64,
}

struct Community {
    did: String,
    name: String,
    display_name: String,
    clock: u16,
    unlisted: bool,
    ready: bool,
    subscribers: u64,
    blocked_by: u64,
    posts_live: u64,
}

struct Post {
    uri: String,
    cid: String,
    community: u32,
    author: u32,
    created_us: u64,
    text_seed: u64,
    embed: bool,
    deleted: bool,
    updates: u64,
    up: u64,
    down: u64,
    comments: u64,
    total_comments: u64,
    /// Position in `Generator::live_posts` while live.
    pool_pos: u32,
    /// Live comments that may be replied to, voted on or deleted (cleared on delete).
    live_comments: Vec<u32>,
}

struct Comment {
    uri: String,
    cid: String,
    author: u32,
    post: u32,
    parent: Option<u32>,
    created_us: u64,
    depth: u32,
    deleted: bool,
    up: u64,
    down: u64,
    replies: u64,
    /// Position in its post's `live_comments` while live.
    pos: u32,
}

#[derive(Clone, Copy)]
struct LiveVote {
    voter: u32,
    subject: Subject,
    created_us: u64,
    up: bool,
}

#[derive(Clone, Copy)]
struct Membership {
    user: u32,
    community: u32,
    created_us: u64,
}

/// Live subscription or block records, and per-(user, community) live-record counts.
#[derive(Default)]
struct MemberSet {
    records: Vec<Membership>,
    pairs: HashMap<(u32, u32), u32>,
}

impl MemberSet {
    fn live(&self, user: u32, community: u32) -> u32 {
        self.pairs.get(&(user, community)).copied().unwrap_or(0)
    }

    /// Adds a record; true if the pair became live.
    fn add(&mut self, m: Membership) -> bool {
        self.records.push(m);
        let n = self.pairs.entry((m.user, m.community)).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Removes record `i`; true if the pair stopped being live.
    fn remove(&mut self, i: usize) -> (Membership, bool) {
        let m = self.records.swap_remove(i);
        let key = (m.user, m.community);
        let ended = match self.pairs.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                self.pairs.remove(&key);
                true
            }
        };
        (m, ended)
    }
}

/// The strongRef of a post or comment.
fn subject_ref<'s>(posts: &'s [Post], comments: &'s [Comment], subject: Subject) -> StrongRef<'s> {
    match subject {
        Subject::Post(p) => {
            let p = &posts[p as usize];
            StrongRef { cid: &p.cid, uri: &p.uri }
        }
        Subject::Comment(c) => {
            let c = &comments[c as usize];
            StrongRef { cid: &c.cid, uri: &c.uri }
        }
    }
}

pub(crate) struct Generator<'a, W: Write> {
    opts: &'a Options,
    rng: Rng,
    out: Out<'a, W>,
    time: Option<u64>,
    users: Vec<User>,
    communities: Vec<Community>,
    posts: Vec<Post>,
    comments: Vec<Comment>,
    live_posts: Vec<u32>,
    votes: Vec<LiveVote>,
    vote_index: HashMap<(u32, Subject), u32>,
    subs: MemberSet,
    blocks: MemberSet,
    deactivated: VecDeque<u32>,
    user_pick: Zipf,
    community_pick: Zipf,
    actions: Vec<(Action, u64)>,
    action_total: u64,
    totals: Totals,
}

impl<'a, W: Write> Generator<'a, W> {
    pub(crate) fn new(opts: &'a Options, w: &'a mut W) -> Self {
        let mut rng = Rng(ChaCha8Rng::seed_from_u64(opts.seed));
        let mut dids = HashSet::new();
        let mut fresh_did = |rng: &mut Rng| loop {
            let did = plc_did(|| rng.next());
            if dids.insert(did.clone()) {
                return did;
            }
        };

        let mut topics: Vec<&str> = text::TOPICS.to_vec();
        for i in (1..topics.len()).rev() {
            let j = rng.below(i + 1);
            topics.swap(i, j);
        }
        let communities = (0..opts.communities as usize)
            .map(|i| {
                let topic = topics[i % topics.len()];
                let round = i / topics.len();
                let (name, display_name) = if round == 0 {
                    (topic.to_owned(), text::capitalize(topic))
                } else {
                    (format!("{topic}{}", round + 1), format!("{} {}", text::capitalize(topic), round + 1))
                };
                Community {
                    did: fresh_did(&mut rng),
                    name,
                    display_name,
                    clock: rng.below(1024) as u16,
                    unlisted: rng.chance(0.15),
                    ready: false,
                    subscribers: 0,
                    blocked_by: 0,
                    posts_live: 0,
                }
            })
            .collect();

        let mut name_uses: HashMap<&str, u32> = HashMap::new();
        let users = (0..opts.users)
            .map(|_| {
                let first = text::FIRST_NAMES[rng.below(text::FIRST_NAMES.len())];
                let last = text::LAST_NAMES[rng.below(text::LAST_NAMES.len())];
                let uses = name_uses.entry(first).or_insert(0);
                *uses += 1;
                let name = if *uses == 1 { first.to_owned() } else { format!("{first}{uses}") };
                User {
                    did: fresh_did(&mut rng),
                    name,
                    display_name: format!("{} {last}", text::capitalize(first)),
                    clock: rng.below(1024) as u16,
                    wants_profile: rng.chance(0.9),
                    onboarded: false,
                    has_profile: false,
                    profile_created_us: 0,
                    active: true,
                    posts_live: 0,
                    comments_live: 0,
                    subscribed: 0,
                }
            })
            .collect();

        let m = &opts.mix;
        let mut action_total = 0;
        let actions = [
            (Action::Vote, m.vote),
            (Action::Revote, m.revote),
            (Action::Unvote, m.unvote),
            (Action::Comment, m.comment),
            (Action::CommentDelete, m.comment_delete),
            (Action::Post, m.post),
            (Action::PostUpdate, m.post_update),
            (Action::PostDelete, m.post_delete),
            (Action::Subscribe, m.subscribe),
            (Action::Unsubscribe, m.unsubscribe),
            (Action::Block, m.block),
            (Action::Unblock, m.unblock),
            (Action::ProfileUpdate, m.profile_update),
            (Action::Account, m.account),
        ]
        .into_iter()
        .filter(|&(_, w)| w > 0)
        .map(|(a, w)| {
            action_total += u64::from(w);
            (a, action_total)
        })
        .collect();

        Self {
            opts,
            rng,
            out: Out {
                w,
                line: Vec::with_capacity(1024),
                record: Vec::with_capacity(1024),
                emitted: 0,
                first_time: 0,
                last_time: 0,
                kinds: [0; 3],
                commits: [[0; 3]; 7],
            },
            time: None,
            users,
            communities,
            posts: Vec::new(),
            comments: Vec::new(),
            live_posts: Vec::new(),
            votes: Vec::new(),
            vote_index: HashMap::new(),
            subs: MemberSet::default(),
            blocks: MemberSet::default(),
            deactivated: VecDeque::new(),
            user_pick: Zipf::new(opts.users as usize, 0.7),
            community_pick: Zipf::new(opts.communities as usize, 0.8),
            actions,
            action_total,
            totals: Totals::default(),
        }
    }

    /// Generates the whole stream.
    pub(crate) fn run(mut self) -> anyhow::Result<Summary> {
        self.setup()?;
        while self.out.emitted < self.opts.events {
            let before = self.out.emitted;
            if before + self.deactivated.len() as u64 >= self.opts.events {
                self.reactivate()?;
                continue;
            }
            let mut acted = false;
            for _ in 0..TRIES {
                let action = self.draw_action();
                if self.act(action)? {
                    acted = true;
                    break;
                }
            }
            if !acted {
                self.profile_update()?;
            }
            if self.out.emitted == before {
                if self.deactivated.is_empty() {
                    bail!("generator stalled after {before} events");
                }
                self.reactivate()?;
            }
        }
        Ok(self.finish())
    }

    // --- bookkeeping ---------------------------------------------------------------------

    /// Whether one more ordinary event fits, keeping room to reactivate every deactivated
    /// account (plus `extra` more events) before the end.
    fn room(&self, extra: u64) -> bool {
        self.out.emitted + 1 + self.deactivated.len() as u64 + extra <= self.opts.events
    }

    /// The next event's `time_us`.
    fn tick(&mut self) -> u64 {
        let t = match self.time {
            None => u64::try_from(self.opts.start.timestamp_micros()).unwrap_or(0),
            Some(prev) => {
                let spacing = self.opts.spacing_us;
                let jitter = spacing * u64::from(self.opts.jitter_percent) / 100;
                let step = if jitter == 0 {
                    spacing
                } else {
                    spacing - jitter + self.rng.below(2 * jitter as usize + 1) as u64
                };
                prev + step.max(1)
            }
        };
        self.time = Some(t);
        t
    }

    fn draw_action(&mut self) -> Action {
        let x = ((u128::from(self.rng.next()) * u128::from(self.action_total)) >> 64) as u64;
        let i = self.actions.partition_point(|&(_, c)| c <= x);
        self.actions.get(i).map_or(Action::Post, |&(a, _)| a)
    }

    fn act(&mut self, action: Action) -> anyhow::Result<bool> {
        match action {
            Action::Vote => self.vote(),
            Action::Revote => self.unvote(true),
            Action::Unvote => self.unvote(false),
            Action::Comment => self.comment(),
            Action::CommentDelete => self.comment_delete(),
            Action::Post => self.post(),
            Action::PostUpdate => self.post_update(),
            Action::PostDelete => self.post_delete(),
            Action::Subscribe => self.join(false),
            Action::Unsubscribe => self.leave(false),
            Action::Block => self.join(true),
            Action::Unblock => self.leave(true),
            Action::ProfileUpdate => self.profile_update(),
            Action::Account => self.account(),
        }
    }

    fn pick_active_user(&mut self) -> Option<u32> {
        for _ in 0..16 {
            let u = self.user_pick.sample(&mut self.rng);
            if self.users[u].active {
                return Some(u as u32);
            }
        }
        None
    }

    fn pick_live_post(&mut self) -> Option<u32> {
        if self.live_posts.is_empty() {
            return None;
        }
        let i = self.rng.recent(self.live_posts.len());
        Some(self.live_posts[i])
    }

    /// A post or comment no event may touch any more (see the module docs).
    fn retired(&self, subject: Subject) -> bool {
        match subject {
            Subject::Post(p) => self.posts[p as usize].deleted,
            Subject::Comment(c) => {
                let c = &self.comments[c as usize];
                c.deleted || self.posts[c.post as usize].deleted
            }
        }
    }

    fn count_vote(&mut self, subject: Subject, up: bool, add: bool) {
        let (ups, downs) = match subject {
            Subject::Post(p) => {
                let p = &mut self.posts[p as usize];
                (&mut p.up, &mut p.down)
            }
            Subject::Comment(c) => {
                let c = &mut self.comments[c as usize];
                (&mut c.up, &mut c.down)
            }
        };
        let (counter, total) =
            if up { (ups, &mut self.totals.votes_live_up) } else { (downs, &mut self.totals.votes_live_down) };
        if add {
            *counter += 1;
            *total += 1;
        } else {
            *counter -= 1;
            *total -= 1;
        }
    }

    /// Emits the user's identity event (and profile) if they have not appeared yet; false if
    /// the event budget ran out.
    fn ensure_user(&mut self, u: u32) -> anyhow::Result<bool> {
        if self.users[u as usize].onboarded {
            return Ok(true);
        }
        if !self.room(0) {
            return Ok(false);
        }
        let t = self.tick();
        let user = &mut self.users[u as usize];
        let handle = format!("{}.{}", user.name, self.opts.domain);
        self.out.identity(&user.did, &handle, t)?;
        user.onboarded = true;
        self.totals.users += 1;
        if user.wants_profile {
            return self.emit_profile(u);
        }
        Ok(true)
    }

    // --- setup -----------------------------------------------------------------------------

    /// Each community: its creator appears, then the community's identity and profile.
    fn setup(&mut self) -> anyhow::Result<()> {
        for c in 0..self.communities.len() {
            let creator = self.user_pick.sample(&mut self.rng) as u32;
            if !self.ensure_user(creator)? || !self.room(0) {
                return Ok(());
            }
            let t = self.tick();
            let community = &self.communities[c];
            let handle = format!("c-{}.{}", community.name, self.opts.domain);
            self.out.identity(&community.did, &handle, t)?;
            if !self.room(0) {
                return Ok(());
            }
            let t = self.tick();
            let seed = self.rng.next();
            let community = &self.communities[c];
            let hosted_by = format!("did:web:{}", self.opts.domain);
            let record = CommunityProfileRecord {
                kind: Collection::CommunityProfile.nsid(),
                created_at: datetime(t - CLIENT_LAG_US),
                created_by: &self.users[creator as usize].did,
                description: text::community_description(&community.name, seed),
                display_name: &community.display_name,
                hosted_by: &hosted_by,
                name: &community.name,
                visibility: if community.unlisted { "unlisted" } else { "public" },
            };
            self.out.put(
                &community.did,
                community.clock,
                t,
                Collection::CommunityProfile,
                Op::Create,
                "self",
                &record,
            )?;
            self.communities[c].ready = true;
            self.totals.communities += 1;
        }
        Ok(())
    }

    // --- actions ---------------------------------------------------------------------------

    fn emit_profile(&mut self, u: u32) -> anyhow::Result<bool> {
        if !self.room(0) {
            return Ok(false);
        }
        let t = self.tick();
        let bio_seed = self.rng.next();
        let with_bio = self.rng.chance(0.8);
        let with_name = self.rng.chance(0.95);
        let user = &mut self.users[u as usize];
        let op = if user.has_profile { Op::Update } else { Op::Create };
        if !user.has_profile {
            user.profile_created_us = t - CLIENT_LAG_US;
        }
        let record = ActorProfileRecord {
            kind: Collection::ActorProfile.nsid(),
            bio: with_bio.then(|| text::bio(bio_seed)),
            created_at: datetime(user.profile_created_us),
            display_name: with_name.then_some(user.display_name.as_str()),
        };
        self.out.put(&user.did, user.clock, t, Collection::ActorProfile, op, "self", &record)?;
        if !user.has_profile {
            user.has_profile = true;
            self.totals.actor_profiles += 1;
        }
        Ok(true)
    }

    fn profile_update(&mut self) -> anyhow::Result<bool> {
        let Some(u) = self.pick_active_user() else { return Ok(false) };
        if !self.users[u as usize].onboarded {
            let wants = self.users[u as usize].wants_profile;
            if !self.ensure_user(u)? || wants {
                return Ok(true);
            }
        }
        self.emit_profile(u)?;
        Ok(true)
    }

    fn post_record<'p>(
        community: &'p str,
        author: &'p str,
        seed: u64,
        embed: bool,
        created_us: u64,
        content: String,
    ) -> PostRecord<'p> {
        let embed = embed.then(|| ExternalEmbed {
            kind: "social.coves.embed.external",
            external: External {
                description: (!seed.is_multiple_of(3)).then(|| text::post_body(seed ^ 0x5555)),
                domain: "example.com",
                title: text::title(seed ^ 0xAAAA),
                uri: format!("https://example.com/{}", text::slug(seed)),
            },
        });
        PostRecord {
            kind: POST_NSID,
            author,
            community,
            content,
            created_at: datetime(created_us),
            embed,
            langs: (seed % 10 < 7).then_some(["en"]),
            title: text::title(seed),
        }
    }

    fn post(&mut self) -> anyhow::Result<bool> {
        let c = self.community_pick.sample(&mut self.rng) as u32;
        if !self.communities[c as usize].ready {
            return Ok(false);
        }
        let Some(author) = self.pick_active_user() else { return Ok(false) };
        if !self.ensure_user(author)? || !self.room(0) {
            return Ok(true);
        }
        let t = self.tick();
        let created_us = t - CLIENT_LAG_US;
        let seed = self.rng.next();
        let embed = self.rng.chance(0.25);
        let community = &self.communities[c as usize];
        let rkey = Tid::from_micros(created_us, community.clock);
        let uri = format!("at://{}/{POST_NSID}/{rkey}", community.did);
        let author_did = &self.users[author as usize].did;
        let record = Self::post_record(&community.did, author_did, seed, embed, created_us, text::post_body(seed));
        let cid =
            self.out.put(&community.did, community.clock, t, Collection::Post, Op::Create, rkey.as_str(), &record)?;

        let id = self.posts.len() as u32;
        self.posts.push(Post {
            uri,
            cid,
            community: c,
            author,
            created_us,
            text_seed: seed,
            embed,
            deleted: false,
            updates: 0,
            up: 0,
            down: 0,
            comments: 0,
            total_comments: 0,
            pool_pos: self.live_posts.len() as u32,
            live_comments: Vec::new(),
        });
        self.live_posts.push(id);
        self.communities[c as usize].posts_live += 1;
        self.users[author as usize].posts_live += 1;
        self.totals.posts_created += 1;
        Ok(true)
    }

    fn post_update(&mut self) -> anyhow::Result<bool> {
        let Some(p) = self.pick_live_post() else { return Ok(false) };
        let t = self.tick();
        let note_seed = self.rng.next();
        let post = &self.posts[p as usize];
        let community = &self.communities[post.community as usize];
        let rkey = Tid::from_micros(post.created_us, community.clock);
        let content = text::post_body(post.text_seed) + &text::edit_note(note_seed, post.updates as u32 + 1);
        let author_did = &self.users[post.author as usize].did;
        let record =
            Self::post_record(&community.did, author_did, post.text_seed, post.embed, post.created_us, content);
        let cid =
            self.out.put(&community.did, community.clock, t, Collection::Post, Op::Update, rkey.as_str(), &record)?;
        let post = &mut self.posts[p as usize];
        post.cid = cid;
        post.updates += 1;
        self.totals.post_updates += 1;
        Ok(true)
    }

    fn post_delete(&mut self) -> anyhow::Result<bool> {
        if self.live_posts.is_empty() {
            return Ok(false);
        }
        let i = self.rng.below(self.live_posts.len());
        let p = self.live_posts[i] as usize;
        let t = self.tick();
        let post = &self.posts[p];
        let community = &self.communities[post.community as usize];
        let rkey = Tid::from_micros(post.created_us, community.clock);
        self.out.delete(&community.did, community.clock, t, Collection::Post, rkey.as_str())?;

        let post = &mut self.posts[p];
        post.deleted = true;
        post.live_comments = Vec::new();
        let (pos, c, author) = (post.pool_pos as usize, post.community as usize, post.author as usize);
        self.live_posts.swap_remove(pos);
        if let Some(&moved) = self.live_posts.get(pos) {
            self.posts[moved as usize].pool_pos = pos as u32;
        }
        self.communities[c].posts_live -= 1;
        self.users[author].posts_live -= 1;
        self.totals.posts_deleted += 1;
        Ok(true)
    }

    fn comment(&mut self) -> anyhow::Result<bool> {
        let Some(p) = self.pick_live_post() else { return Ok(false) };
        let Some(user) = self.pick_active_user() else { return Ok(false) };
        let n = self.posts[p as usize].live_comments.len();
        let parent = if n == 0 || self.rng.chance(0.4) {
            None
        } else {
            let i = self.rng.recent(n);
            let c = self.posts[p as usize].live_comments[i];
            (self.comments[c as usize].depth < MAX_DEPTH).then_some(c)
        };
        if !self.ensure_user(user)? || !self.room(0) {
            return Ok(true);
        }
        let t = self.tick();
        let created_us = t - CLIENT_LAG_US;
        let content = text::comment(self.rng.next());
        let english = self.rng.chance(0.6);
        let commenter = &self.users[user as usize];
        let rkey = Tid::from_micros(created_us, commenter.clock);
        let uri = format!("at://{}/{COMMENT_NSID}/{rkey}", commenter.did);
        let post = &self.posts[p as usize];
        let root = StrongRef { cid: &post.cid, uri: &post.uri };
        let parent_ref = match parent {
            None => StrongRef { cid: &post.cid, uri: &post.uri },
            Some(c) => subject_ref(&self.posts, &self.comments, Subject::Comment(c)),
        };
        let record = CommentRecord {
            kind: COMMENT_NSID,
            content,
            created_at: datetime(created_us),
            langs: english.then_some(["en"]),
            reply: Reply { parent: parent_ref, root },
        };
        let cid = self.out.put(
            &commenter.did,
            commenter.clock,
            t,
            Collection::Comment,
            Op::Create,
            rkey.as_str(),
            &record,
        )?;

        let id = self.comments.len() as u32;
        let depth = parent.map_or(1, |c| self.comments[c as usize].depth + 1);
        let post = &mut self.posts[p as usize];
        let pos = post.live_comments.len() as u32;
        post.live_comments.push(id);
        post.total_comments += 1;
        match parent {
            None => post.comments += 1,
            Some(c) => self.comments[c as usize].replies += 1,
        }
        self.comments.push(Comment {
            uri,
            cid,
            author: user,
            post: p,
            parent,
            created_us,
            depth,
            deleted: false,
            up: 0,
            down: 0,
            replies: 0,
            pos,
        });
        self.users[user as usize].comments_live += 1;
        self.totals.comments_created += 1;
        self.totals.max_comment_depth = self.totals.max_comment_depth.max(u64::from(depth));
        Ok(true)
    }

    fn comment_delete(&mut self) -> anyhow::Result<bool> {
        for _ in 0..TRIES {
            let Some(p) = self.pick_live_post() else { return Ok(false) };
            let n = self.posts[p as usize].live_comments.len();
            if n == 0 {
                continue;
            }
            let c = self.posts[p as usize].live_comments[self.rng.below(n)] as usize;
            let comment = &self.comments[c];
            if comment.parent.is_some_and(|parent| self.comments[parent as usize].deleted)
                || !self.users[comment.author as usize].active
            {
                continue;
            }
            let (author, created_us) = (comment.author as usize, comment.created_us);
            let t = self.tick();
            let author = &self.users[author];
            let rkey = Tid::from_micros(created_us, author.clock);
            self.out.delete(&author.did, author.clock, t, Collection::Comment, rkey.as_str())?;

            let comment = &mut self.comments[c];
            comment.deleted = true;
            let (pos, parent, author) = (comment.pos as usize, comment.parent, comment.author as usize);
            let post = &mut self.posts[p as usize];
            post.live_comments.swap_remove(pos);
            if let Some(&moved) = post.live_comments.get(pos) {
                self.comments[moved as usize].pos = pos as u32;
            }
            post.total_comments -= 1;
            match parent {
                None => post.comments -= 1,
                Some(parent) => self.comments[parent as usize].replies -= 1,
            }
            self.users[author].comments_live -= 1;
            self.totals.comments_deleted += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn vote(&mut self) -> anyhow::Result<bool> {
        let Some(voter) = self.pick_active_user() else { return Ok(false) };
        for _ in 0..TRIES {
            let Some(p) = self.pick_live_post() else { return Ok(false) };
            let n = self.posts[p as usize].live_comments.len();
            let subject = if n > 0 && self.rng.chance(0.45) {
                let i = self.rng.recent(n);
                Subject::Comment(self.posts[p as usize].live_comments[i])
            } else {
                Subject::Post(p)
            };
            if self.vote_index.contains_key(&(voter, subject)) {
                continue;
            }
            let up = self.rng.chance(0.78);
            if self.ensure_user(voter)? {
                self.emit_vote(voter, subject, up)?;
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn emit_vote(&mut self, voter: u32, subject: Subject, up: bool) -> anyhow::Result<()> {
        if !self.room(0) {
            return Ok(());
        }
        let t = self.tick();
        let created_us = t - CLIENT_LAG_US;
        let user = &self.users[voter as usize];
        let rkey = Tid::from_micros(created_us, user.clock);
        let record = VoteRecord {
            kind: Collection::Vote.nsid(),
            created_at: datetime(created_us),
            direction: if up { "up" } else { "down" },
            subject: subject_ref(&self.posts, &self.comments, subject),
        };
        self.out.put(&user.did, user.clock, t, Collection::Vote, Op::Create, rkey.as_str(), &record)?;
        self.vote_index.insert((voter, subject), self.votes.len() as u32);
        self.votes.push(LiveVote { voter, subject, created_us, up });
        self.count_vote(subject, up, true);
        self.totals.votes_created += 1;
        Ok(())
    }

    /// Stops tracking live vote `i` (the record itself is unaffected).
    fn forget_vote(&mut self, i: usize) -> LiveVote {
        let v = self.votes.swap_remove(i);
        self.vote_index.remove(&(v.voter, v.subject));
        if let Some(moved) = self.votes.get(i) {
            self.vote_index.insert((moved.voter, moved.subject), i as u32);
        }
        v
    }

    /// Deletes a live vote; with `switch`, then votes the other way on the same subject.
    fn unvote(&mut self, switch: bool) -> anyhow::Result<bool> {
        for _ in 0..2 * TRIES {
            if self.votes.is_empty() {
                return Ok(false);
            }
            let i = self.rng.below(self.votes.len());
            let v = self.votes[i];
            if self.retired(v.subject) {
                self.forget_vote(i);
                continue;
            }
            if !self.users[v.voter as usize].active {
                continue;
            }
            let t = self.tick();
            let user = &self.users[v.voter as usize];
            let rkey = Tid::from_micros(v.created_us, user.clock);
            self.out.delete(&user.did, user.clock, t, Collection::Vote, rkey.as_str())?;
            self.forget_vote(i);
            self.count_vote(v.subject, v.up, false);
            self.totals.votes_deleted += 1;
            if switch && self.room(0) {
                self.emit_vote(v.voter, v.subject, !v.up)?;
                self.totals.vote_switches += 1;
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Subscribes (or blocks, with `block`): usually a community the user has no live
    /// record for; a few percent of the time a duplicate record of a live pair.
    fn join(&mut self, block: bool) -> anyhow::Result<bool> {
        let set = if block { &self.blocks } else { &self.subs };
        let duplicate = if block { 0.03 } else { 0.05 };
        if !set.records.is_empty() && self.rng.chance(duplicate) {
            let m = set.records[self.rng.below(set.records.len())];
            if self.users[m.user as usize].active {
                return self.emit_join(block, m.user, m.community);
            }
        }
        let Some(user) = self.pick_active_user() else { return Ok(false) };
        for _ in 0..TRIES {
            let c =
                if block { self.rng.below(self.communities.len()) } else { self.community_pick.sample(&mut self.rng) }
                    as u32;
            let set = if block { &self.blocks } else { &self.subs };
            if self.communities[c as usize].ready && set.live(user, c) == 0 {
                return self.emit_join(block, user, c);
            }
        }
        Ok(false)
    }

    fn emit_join(&mut self, block: bool, user: u32, c: u32) -> anyhow::Result<bool> {
        if !self.ensure_user(user)? || !self.room(0) {
            return Ok(true);
        }
        let t = self.tick();
        let created_us = t - CLIENT_LAG_US;
        let visibility = [1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5, 3][self.rng.below(20)];
        let u = &self.users[user as usize];
        let rkey = Tid::from_micros(created_us, u.clock);
        let subject = &self.communities[c as usize].did;
        let created_at = datetime(created_us);
        let membership = Membership { user, community: c, created_us };
        if block {
            let record = BlockRecord { kind: Collection::Block.nsid(), created_at, subject };
            self.out.put(&u.did, u.clock, t, Collection::Block, Op::Create, rkey.as_str(), &record)?;
            if self.blocks.add(membership) {
                self.communities[c as usize].blocked_by += 1;
            }
        } else {
            let record = SubscriptionRecord {
                kind: Collection::Subscription.nsid(),
                content_visibility: visibility,
                created_at,
                subject,
            };
            self.out.put(&u.did, u.clock, t, Collection::Subscription, Op::Create, rkey.as_str(), &record)?;
            if self.subs.add(membership) {
                self.communities[c as usize].subscribers += 1;
                self.users[user as usize].subscribed += 1;
            }
        }
        Ok(true)
    }

    /// Deletes a live subscription (or block, with `block`) record.
    fn leave(&mut self, block: bool) -> anyhow::Result<bool> {
        for _ in 0..TRIES {
            let set = if block { &self.blocks } else { &self.subs };
            if set.records.is_empty() {
                return Ok(false);
            }
            let i = self.rng.below(set.records.len());
            let m = set.records[i];
            if !self.users[m.user as usize].active {
                continue;
            }
            let t = self.tick();
            let u = &self.users[m.user as usize];
            let rkey = Tid::from_micros(m.created_us, u.clock);
            let collection = if block { Collection::Block } else { Collection::Subscription };
            self.out.delete(&u.did, u.clock, t, collection, rkey.as_str())?;
            let set = if block { &mut self.blocks } else { &mut self.subs };
            let (m, ended) = set.remove(i);
            if ended {
                if block {
                    self.communities[m.community as usize].blocked_by -= 1;
                } else {
                    self.communities[m.community as usize].subscribers -= 1;
                    self.users[m.user as usize].subscribed -= 1;
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn account(&mut self) -> anyhow::Result<bool> {
        let cap = (self.users.len() / 50).max(1);
        if !self.deactivated.is_empty() && (self.deactivated.len() >= cap || self.rng.chance(0.5)) {
            self.reactivate()?;
            return Ok(true);
        }
        if self.users.len() < 2 || self.deactivated.len() >= cap || !self.room(1) {
            return Ok(false);
        }
        let Some(u) = self.pick_active_user() else { return Ok(false) };
        if !self.users[u as usize].onboarded {
            return Ok(false);
        }
        let t = self.tick();
        self.out.account(&self.users[u as usize].did, t, false)?;
        self.users[u as usize].active = false;
        self.deactivated.push_back(u);
        self.totals.deactivations += 1;
        Ok(true)
    }

    fn reactivate(&mut self) -> anyhow::Result<()> {
        let Some(u) = self.deactivated.pop_front() else { return Ok(()) };
        let t = self.tick();
        self.out.account(&self.users[u as usize].did, t, true)?;
        self.users[u as usize].active = true;
        self.totals.reactivations += 1;
        Ok(())
    }

    // --- summary ---------------------------------------------------------------------------

    fn finish(self) -> Summary {
        let mut by_kind = BTreeMap::new();
        for (kind, &n) in KINDS.iter().zip(&self.out.kinds) {
            if n > 0 {
                by_kind.insert((*kind).to_owned(), n);
            }
        }
        let mut by_collection = BTreeMap::new();
        let mut by_operation: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_collection_operation = BTreeMap::new();
        for collection in Collection::ALL {
            let mut ops = BTreeMap::new();
            for op in Op::ALL {
                let n = self.out.commits[collection as usize][op as usize];
                if n > 0 {
                    ops.insert(op.as_str().to_owned(), n);
                    *by_operation.entry(op.as_str().to_owned()).or_default() += n;
                }
            }
            if !ops.is_empty() {
                by_collection.insert(collection.nsid().to_owned(), ops.values().sum());
                by_collection_operation.insert(collection.nsid().to_owned(), ops);
            }
        }

        let mut totals = self.totals;
        totals.posts_live = totals.posts_created - totals.posts_deleted;
        totals.comments_live = totals.comments_created - totals.comments_deleted;
        totals.votes_live = totals.votes_created - totals.votes_deleted;
        totals.subscriptions_live = self.subs.records.len() as u64;
        totals.subscribed_pairs = self.subs.pairs.len() as u64;
        totals.blocks_live = self.blocks.records.len() as u64;
        totals.blocked_pairs = self.blocks.pairs.len() as u64;
        totals.deactivated_at_end = self.deactivated.len() as u64;

        let domain = &self.opts.domain;
        let communities = self
            .communities
            .iter()
            .filter(|c| c.ready)
            .map(|c| {
                let counts = CommunityCounts {
                    handle: format!("c-{}.{domain}", c.name),
                    name: c.name.clone(),
                    visibility: if c.unlisted { "unlisted" } else { "public" }.to_owned(),
                    subscriber_count: c.subscribers,
                    post_count: c.posts_live,
                    blocked_by: c.blocked_by,
                };
                (c.did.clone(), counts)
            })
            .collect();

        let (mut posts, mut comments, mut actors) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        if self.opts.details {
            for p in &self.posts {
                let counts = PostCounts {
                    community: self.communities[p.community as usize].did.clone(),
                    author: self.users[p.author as usize].did.clone(),
                    cid: p.cid.clone(),
                    upvotes: p.up,
                    downvotes: p.down,
                    score: p.up as i64 - p.down as i64,
                    comment_count: p.comments,
                    total_comment_count: p.total_comments,
                    updates: p.updates,
                    deleted: p.deleted,
                };
                posts.insert(p.uri.clone(), counts);
            }
            for c in &self.comments {
                let counts = CommentCounts {
                    author: self.users[c.author as usize].did.clone(),
                    post: self.posts[c.post as usize].uri.clone(),
                    parent: match c.parent {
                        None => self.posts[c.post as usize].uri.clone(),
                        Some(parent) => self.comments[parent as usize].uri.clone(),
                    },
                    depth: u64::from(c.depth),
                    upvotes: c.up,
                    downvotes: c.down,
                    score: c.up as i64 - c.down as i64,
                    reply_count: c.replies,
                    deleted: c.deleted,
                };
                comments.insert(c.uri.clone(), counts);
            }
            for u in self.users.iter().filter(|u| u.onboarded) {
                let counts = ActorCounts {
                    handle: format!("{}.{domain}", u.name),
                    has_profile: u.has_profile,
                    post_count: u.posts_live,
                    comment_count: u.comments_live,
                    community_count: u.subscribed,
                };
                actors.insert(u.did.clone(), counts);
            }
        }

        Summary {
            seed: self.opts.seed,
            events: self.out.emitted,
            first_time_us: self.out.first_time,
            last_time_us: self.out.last_time,
            by_kind,
            by_collection,
            by_operation,
            by_collection_operation,
            totals,
            communities,
            posts,
            comments,
            actors,
        }
    }
}
