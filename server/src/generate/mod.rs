//! A deterministic generator of realistic Coves activity as Jetstream v1 events.
//!
//! [`generate`] writes JSONL — one event per line, exactly the shape Jetstream sends
//! (`{"did","time_us","kind":"commit","commit":{"rev","operation","collection","rkey","record"?,"cid"?}}`,
//! plus `identity` and `account` events) — and returns a [`Summary`] holding the exact
//! aggregates the AppView must end up with after indexing the stream (COVES_API §7).
//!
//! The same [`Options`] (seed included) always give byte-identical output. Memory is
//! bounded by the number of entities (users, communities, posts, comments, live votes,
//! subscriptions, blocks), never by the number of events: lines are streamed.
//!
//! # The stream
//!
//! * Every community gets an `identity` event (handle `c-<name>.<domain>`) and its
//!   `social.coves.community.profile` (rkey `self`, in its own repo) at the start, after
//!   its creator (a user) has appeared.
//! * A user appears on their first action: an `identity` event (handle `<name>.<domain>`)
//!   and, for ~90% of users, a `social.coves.actor.profile` (rkey `self`).
//! * Then actions drawn from the [`Mix`]: posts (in the community's repo, `author` = the
//!   user), comments (in the commenter's repo; threads several levels deep), votes,
//!   direction switches (delete old vote + create new, two events), unvotes,
//!   subscriptions (with occasional duplicate records) and unsubscribes, blocks and
//!   unblocks, post updates, post and comment deletes, actor profile updates and account
//!   deactivation/reactivation pairs.
//! * `time_us` strictly increases (spacing ± jitter, starting exactly at the start time);
//!   each record's `createdAt` (millisecond precision) and TID rkey come from its write
//!   time, 250 µs before the event's `time_us`; `rev` is `Tid::from_micros(time_us, repo
//!   clock id)`, so it increases per repo. CIDs are `bafyrei…` strings derived from the
//!   record's JSON bytes; strongRefs carry the subject's current CID (post updates change
//!   it). Profiles use rkey `self`; updates keep `createdAt`.
//!
//! # Rules that keep the expected counts unambiguous
//!
//! * Never re-creates a URI; never deletes an unknown one; at most one live vote per
//!   (voter, subject); no vote, comment or delete by a deactivated account.
//! * A post or comment is **retired** once it is deleted, and a comment also once its
//!   root post is deleted. Nothing touches a retired subject afterwards: no new votes on
//!   it, none of its votes deleted or switched, no reply to it, and no delete of a
//!   comment whose parent or root is deleted. So a deleted subject's counters are frozen
//!   at deletion *and* equal a plain recount of the live records that reference it —
//!   both readings of §7.1 agree (see [`PostCounts`]).

mod ids;
mod sim;
mod text;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Write a synthetic Jetstream stream (JSONL) of Coves activity and its expected aggregates.
#[derive(clap::Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Number of events (lines) to write.
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Random seed; the same seed and arguments give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the events (JSONL); `-` for standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the expected aggregates (the Summary, JSON).
    #[arg(long)]
    pub expected: Option<PathBuf>,
    /// Number of communities.
    #[arg(long, default_value_t = 20)]
    pub communities: u32,
    /// Number of users (each appears on their first action).
    #[arg(long, default_value_t = 500)]
    pub users: u32,
    /// `time_us` of the first event (RFC 3339).
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    pub start: DateTime<Utc>,
    /// Mean gap between consecutive events, in microseconds.
    #[arg(long, default_value_t = 1_000)]
    pub spacing_us: u64,
    /// Random variation of each gap, in percent of the spacing (0 = exact spacing).
    #[arg(long, default_value_t = 50)]
    pub jitter_percent: u32,
    /// Domain of handles (`<user>.<domain>`, `c-<community>.<domain>`) and of `hostedBy`
    /// (`did:web:<domain>`).
    #[arg(long, default_value = "coves.test")]
    pub domain: String,
    /// Action weights overriding the defaults, e.g. `--mix vote=800,block=0`. Keys: see
    /// `Mix` (vote, revote, unvote, comment, comment_delete, post, post_update,
    /// post_delete, subscribe, unsubscribe, block, unblock, profile_update, account).
    #[arg(long, value_delimiter = ',')]
    pub mix: Vec<String>,
    /// Leave the per-post, per-comment and per-actor maps out of the Summary (totals and
    /// per-community counts only).
    #[arg(long)]
    pub totals_only: bool,
}

/// Relative weights of the actions drawn after setup. An action that is impossible at
/// that moment (e.g. an unvote before any vote) is redrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mix {
    /// Create a vote (post ~55%, comment ~45%; up ~78%).
    pub vote: u32,
    /// Switch a live vote's direction: delete it, then create the opposite one (2 events).
    pub revote: u32,
    /// Delete a live vote.
    pub unvote: u32,
    /// Create a comment (~40% top-level, else a reply to a live comment of the post).
    pub comment: u32,
    /// Delete a live comment.
    pub comment_delete: u32,
    /// Create a post (~25% with an external embed).
    pub post: u32,
    /// Update a live post (new `content`, same `title`, `createdAt`, `author`, `community`).
    pub post_update: u32,
    /// Delete a live post.
    pub post_delete: u32,
    /// Create a subscription (~10% of them duplicate a live one).
    pub subscribe: u32,
    /// Delete a live subscription record.
    pub unsubscribe: u32,
    /// Create a block (~5% of them duplicate a live one).
    pub block: u32,
    /// Delete a live block record.
    pub unblock: u32,
    /// Create or update a user's `social.coves.actor.profile`.
    pub profile_update: u32,
    /// Deactivate an account (reactivated later, always before the stream ends) or
    /// reactivate one.
    pub account: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            vote: 620,
            revote: 20,
            unvote: 20,
            comment: 170,
            comment_delete: 8,
            post: 70,
            post_update: 6,
            post_delete: 4,
            subscribe: 50,
            unsubscribe: 10,
            block: 8,
            unblock: 3,
            profile_update: 8,
            account: 3,
        }
    }
}

impl Mix {
    /// The weight named `key` (as in `--mix`).
    pub fn weight_mut(&mut self, key: &str) -> Option<&mut u32> {
        Some(match key {
            "vote" => &mut self.vote,
            "revote" => &mut self.revote,
            "unvote" => &mut self.unvote,
            "comment" => &mut self.comment,
            "comment_delete" => &mut self.comment_delete,
            "post" => &mut self.post,
            "post_update" => &mut self.post_update,
            "post_delete" => &mut self.post_delete,
            "subscribe" => &mut self.subscribe,
            "unsubscribe" => &mut self.unsubscribe,
            "block" => &mut self.block,
            "unblock" => &mut self.unblock,
            "profile_update" => &mut self.profile_update,
            "account" => &mut self.account,
            _ => return None,
        })
    }

    /// Applies `key=weight` overrides.
    pub fn apply_overrides(&mut self, overrides: &[String]) -> anyhow::Result<()> {
        for item in overrides.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                bail!("--mix item {item:?} must be key=weight");
            };
            let value: u32 = value.trim().parse().with_context(|| format!("--mix item {item:?}: bad weight"))?;
            let Some(slot) = self.weight_mut(key.trim()) else {
                bail!("--mix item {item:?}: unknown action {:?}", key.trim());
            };
            *slot = value;
        }
        Ok(())
    }

    fn total(&self) -> u64 {
        [
            self.vote,
            self.revote,
            self.unvote,
            self.comment,
            self.comment_delete,
            self.post,
            self.post_update,
            self.post_delete,
            self.subscribe,
            self.unsubscribe,
            self.block,
            self.unblock,
            self.profile_update,
            self.account,
        ]
        .iter()
        .map(|&w| u64::from(w))
        .sum()
    }
}

/// Everything that determines the output.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of events to write.
    pub events: u64,
    /// Random seed.
    pub seed: u64,
    /// Number of communities (≥ 1).
    pub communities: u32,
    /// Number of users (≥ 1).
    pub users: u32,
    /// `time_us` of the first event.
    pub start: DateTime<Utc>,
    /// Mean gap between events, µs (≥ 1).
    pub spacing_us: u64,
    /// Gap variation in percent of `spacing_us` (0–100).
    pub jitter_percent: u32,
    /// Handle / `hostedBy` domain.
    pub domain: String,
    /// Action weights.
    pub mix: Mix,
    /// Fill the per-post, per-comment and per-actor maps of the Summary.
    pub details: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            events: 10_000,
            seed: 1,
            communities: 20,
            users: 500,
            start: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            spacing_us: 1_000,
            jitter_percent: 50,
            domain: "coves.test".to_owned(),
            mix: Mix::default(),
            details: true,
        }
    }
}

impl Options {
    /// Options from command-line arguments.
    pub fn from_args(args: &GenerateArgs) -> anyhow::Result<Self> {
        let mut mix = Mix::default();
        mix.apply_overrides(&args.mix)?;
        let options = Self {
            events: args.events,
            seed: args.seed,
            communities: args.communities,
            users: args.users,
            start: args.start,
            spacing_us: args.spacing_us,
            jitter_percent: args.jitter_percent,
            domain: args.domain.clone(),
            mix,
            details: !args.totals_only,
        };
        options.validate()?;
        Ok(options)
    }

    /// Checks the options make a generatable stream.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.communities == 0 || self.users == 0 {
            bail!("at least one community and one user are needed");
        }
        if self.spacing_us == 0 {
            bail!("spacing must be at least 1 µs");
        }
        if self.jitter_percent > 100 {
            bail!("jitter is a percentage (0-100)");
        }
        if self.mix.total() == 0 {
            bail!("the action mix has no positive weight");
        }
        let start = self.start.timestamp_micros();
        if !(1_000_000_000_000_000..=1 << 52).contains(&start) {
            bail!("start time out of range (2001 onwards)");
        }
        let labels_ok = self.domain.split('.').count() >= 2
            && self.domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !labels_ok {
            bail!("domain {:?} is not a lowercase DNS name with at least two labels", self.domain);
        }
        Ok(())
    }
}

impl TryFrom<&GenerateArgs> for Options {
    type Error = anyhow::Error;

    fn try_from(args: &GenerateArgs) -> anyhow::Result<Self> {
        Self::from_args(args)
    }
}

/// The expected state after indexing the stream, computed by simulating it.
///
/// Counter semantics (COVES_API §7.1), all over the records of the stream:
///
/// * `upvotes` / `downvotes`: live votes on the subject per direction (the generator keeps
///   at most one live vote per (voter, subject), so live = effective); `score` = up − down.
/// * post `commentCount`: live comments whose `reply.parent` is the post;
///   `totalCommentCount`: live comments whose `reply.root` is the post (any depth, including
///   live replies under deleted comments).
/// * comment `replyCount`: live comments whose `reply.parent` is the comment.
/// * community `subscriberCount`: distinct users with ≥ 1 live subscription record for it
///   (duplicate records count once); `postCount`: live posts in its repo.
///
/// **Deletes.** A deleted post or comment stays in the maps with `deleted: true` and its
/// counters frozen at the moment of deletion. Votes on it and comments under it are not
/// deleted by the generator (they stay live records, listed in `totals`), and nothing
/// referencing it changes afterwards (see the module docs), so the frozen values also equal
/// a recount over live records — whether the AppView freezes counters or recounts them,
/// the number is the same. Votes on deleted subjects therefore still appear in a deleted
/// subject's frozen `upvotes`/`downvotes`, and in `totals.votesLive`, but in no live
/// subject's counters. A comment whose root post is deleted keeps live counters (nothing
/// changes them after the post's delete either).
///
/// **Accounts.** `account` events change no count: a deactivated user writes nothing until
/// reactivated, and every deactivation is followed by a reactivation before the end of the
/// stream (`totals.deactivatedAtEnd` is 0 unless the stream is too short to fit it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The seed used.
    pub seed: u64,
    /// Events written (lines).
    pub events: u64,
    /// `time_us` of the first and last event (0 when no event).
    pub first_time_us: u64,
    /// See `first_time_us`.
    pub last_time_us: u64,
    /// Events per kind: `commit`, `identity`, `account`.
    pub by_kind: BTreeMap<String, u64>,
    /// Commit events per collection.
    pub by_collection: BTreeMap<String, u64>,
    /// Commit events per operation (`create`, `update`, `delete`).
    pub by_operation: BTreeMap<String, u64>,
    /// Commit events per collection, then operation.
    pub by_collection_operation: BTreeMap<String, BTreeMap<String, u64>>,
    /// Record-level totals at the end of the stream.
    pub totals: Totals,
    /// Per community DID.
    pub communities: BTreeMap<String, CommunityCounts>,
    /// Per post URI (every post created, deleted ones included). Empty with `totals_only`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub posts: BTreeMap<String, PostCounts>,
    /// Per comment URI (every comment created, deleted ones included). Empty with
    /// `totals_only`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub comments: BTreeMap<String, CommentCounts>,
    /// Per user DID that appeared in the stream. Empty with `totals_only`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub actors: BTreeMap<String, ActorCounts>,
}

/// Record-level totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Users that appeared (got an identity event).
    pub users: u64,
    /// Communities that appeared (identity event and profile).
    pub communities: u64,
    /// Live `social.coves.actor.profile` records.
    pub actor_profiles: u64,
    /// Posts created / live / deleted; post update events.
    pub posts_created: u64,
    /// See `posts_created`.
    pub posts_live: u64,
    /// See `posts_created`.
    pub posts_deleted: u64,
    /// See `posts_created`.
    pub post_updates: u64,
    /// Comments created / live / deleted.
    pub comments_created: u64,
    /// See `comments_created`.
    pub comments_live: u64,
    /// See `comments_created`.
    pub comments_deleted: u64,
    /// Deepest comment (1 = top-level).
    pub max_comment_depth: u64,
    /// Vote records created / deleted / live (live ones on deleted subjects included).
    pub votes_created: u64,
    /// See `votes_created`.
    pub votes_deleted: u64,
    /// See `votes_created`.
    pub votes_live: u64,
    /// Live up / down votes (all subjects).
    pub votes_live_up: u64,
    /// See `votes_live_up`.
    pub votes_live_down: u64,
    /// Direction switches (each is one delete plus one create).
    pub vote_switches: u64,
    /// Live subscription records; (user, community) pairs with ≥ 1 live record.
    pub subscriptions_live: u64,
    /// See `subscriptions_live`.
    pub subscribed_pairs: u64,
    /// Live block records; (user, community) pairs with ≥ 1 live record.
    pub blocks_live: u64,
    /// See `blocks_live`.
    pub blocked_pairs: u64,
    /// Account deactivations / reactivations; accounts still deactivated at the end.
    pub deactivations: u64,
    /// See `deactivations`.
    pub reactivations: u64,
    /// See `deactivations`.
    pub deactivated_at_end: u64,
}

/// Expected counters of one post.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostCounts {
    /// Community DID (the repo).
    pub community: String,
    /// Author DID.
    pub author: String,
    /// Current CID (changes on update).
    pub cid: String,
    /// Effective up votes.
    pub upvotes: u64,
    /// Effective down votes.
    pub downvotes: u64,
    /// `upvotes − downvotes`.
    pub score: i64,
    /// Live comments whose parent is the post.
    pub comment_count: u64,
    /// Live comments whose root is the post.
    pub total_comment_count: u64,
    /// Number of update events applied.
    pub updates: u64,
    /// Deleted (counters frozen at deletion).
    pub deleted: bool,
}

/// Expected counters of one comment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentCounts {
    /// Commenter DID (the repo).
    pub author: String,
    /// Root post URI.
    pub post: String,
    /// Parent URI (the post or a comment).
    pub parent: String,
    /// 1 for a top-level comment, parent's depth + 1 for a reply.
    pub depth: u64,
    /// Effective up votes.
    pub upvotes: u64,
    /// Effective down votes.
    pub downvotes: u64,
    /// `upvotes − downvotes`.
    pub score: i64,
    /// Live comments whose parent is this comment.
    pub reply_count: u64,
    /// Deleted (counters frozen at deletion).
    pub deleted: bool,
}

/// Expected state of one community.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommunityCounts {
    /// Handle from its identity event (`c-<name>.<domain>`).
    pub handle: String,
    /// `name` of its profile.
    pub name: String,
    /// `visibility` of its profile.
    pub visibility: String,
    /// Distinct users with ≥ 1 live subscription record.
    pub subscriber_count: u64,
    /// Live posts.
    pub post_count: u64,
    /// Distinct users with ≥ 1 live block record (not an API counter).
    pub blocked_by: u64,
}

/// Expected profile stats of one user (`ProfileViewDetailed.stats`, COVES_API §5.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorCounts {
    /// Handle from its identity event.
    pub handle: String,
    /// Has a live `social.coves.actor.profile`.
    pub has_profile: bool,
    /// Live posts authored (in any community).
    pub post_count: u64,
    /// Live comments.
    pub comment_count: u64,
    /// Communities with ≥ 1 live subscription record.
    pub community_count: u64,
}

/// Writes the events to `args.out` and, if asked, the Summary to `args.expected`.
pub fn run(args: &GenerateArgs) -> anyhow::Result<Summary> {
    let options = Options::from_args(args)?;
    let summary = if args.out.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let summary = generate(&options, &mut lock)?;
        lock.flush()?;
        summary
    } else {
        let file = File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        let summary = generate(&options, &mut writer)?;
        writer.flush().with_context(|| format!("writing {}", args.out.display()))?;
        summary
    };
    if let Some(path) = &args.expected {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut writer = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut writer, &summary)?;
        writer.write_all(b"\n")?;
        writer.flush().with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary)
}

/// Streams `options.events` events to `out` (buffered internally) and returns the expected
/// aggregates.
pub fn generate(options: &Options, out: &mut impl Write) -> anyhow::Result<Summary> {
    options.validate()?;
    let mut writer = BufWriter::with_capacity(1 << 16, out);
    let summary = sim::Generator::new(options, &mut writer).run()?;
    writer.flush()?;
    Ok(summary)
}

impl Summary {
    /// Expected (upvotes, downvotes) per post and comment URI, subjects with votes only:
    /// what the vote plugin's `vote_counts` must hold after ingesting the stream.
    pub fn vote_counts(&self) -> BTreeMap<String, (i64, i64)> {
        let posts = self.posts.iter().map(|(uri, c)| (uri, c.upvotes, c.downvotes));
        let comments = self.comments.iter().map(|(uri, c)| (uri, c.upvotes, c.downvotes));
        posts
            .chain(comments)
            .filter(|(_, up, down)| *up != 0 || *down != 0)
            .map(|(uri, up, down)| (uri.clone(), (up as i64, down as i64)))
            .collect()
    }
}
