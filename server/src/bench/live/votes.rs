//! The vote stream of `bench live`: random voters voting on the subjects, as Jetstream
//! commit events, and the counts the stream must leave behind, worked out here from what
//! was sent (independently of the server) with the effective-vote rule: per (voter,
//! subject) the live vote with the greatest (createdAt, rkey) counts.
//!
//! Each event is one of:
//! - a new vote (60%): a random voter on a random subject, ~75% up;
//! - a re-vote (15%): a new record by the voter of a live vote, on the same subject, in the
//!   other direction; the older record stays live but no longer counts;
//! - a flip (10%): an update of a live vote record to the other direction (it counts only
//!   if it is its pair's newest);
//! - a delete (15%) of a live vote record (the pair's older record, if any, counts again).
//!
//! So counts go up and down, and every branch of the rule is exercised.

use std::collections::HashMap;

use coves_plugin_api::syntax::{Tid, format_datetime};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// The vote collection.
pub const VOTE_COLLECTION: &str = "social.coves.feed.vote";

/// RFC 4648 base32, lowercase: the alphabet of `did:plc` identifiers and CIDv1 strings.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A record votes are cast on (a readable post).
#[derive(Clone, Debug)]
pub struct Subject {
    pub uri: String,
    pub cid: String,
}

/// An event ready to send: its `time_us` and its JSON text.
pub struct Event {
    pub time_us: i64,
    pub json: String,
}

/// What a stream sent, by kind of event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    pub votes: u64,
    pub revotes: u64,
    pub flips: u64,
    pub deletes: u64,
}

impl Sent {
    pub fn total(&self) -> u64 {
        self.votes + self.revotes + self.flips + self.deletes
    }
}

/// A live vote record.
#[derive(Clone, Debug)]
struct LiveVote {
    voter: u32,
    subject: u32,
    rkey: Tid,
    /// `createdAt` as written in the record (milliseconds, as clients write it).
    created_at: String,
    /// `createdAt` in milliseconds, the first key of the effective-vote order.
    created_ms: i64,
    up: bool,
}

/// Generates the stream and remembers every live vote record.
pub struct VoteStream {
    rng: ChaCha8Rng,
    subjects: Vec<Subject>,
    voters: Vec<String>,
    live: Vec<LiveVote>,
    /// `time_us` of the last event: every event gets a later one, which is also its
    /// repository rev (and a new record's rkey), so revs grow in every repository.
    last_us: i64,
    sent: Sent,
}

impl VoteStream {
    /// A stream over `subjects` from `voters` random accounts, seeded.
    pub fn new(subjects: Vec<Subject>, voters: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let voters = (0..voters.max(1)).map(|_| plc_did(&mut rng)).collect();
        Self { rng, subjects, voters, live: Vec::new(), last_us: 0, sent: Sent::default() }
    }

    pub fn subjects(&self) -> &[Subject] {
        &self.subjects
    }

    pub fn sent(&self) -> Sent {
        self.sent
    }

    /// The next event, stamped `now_us` (or just after the previous event).
    pub fn next_event(&mut self, now_us: i64) -> Event {
        let time_us = now_us.max(self.last_us + 1);
        self.last_us = time_us;
        let tid = Tid::from_micros(time_us as u64, 0);
        let pick: f64 = self.rng.random();
        if self.live.is_empty() || pick < 0.60 {
            let voter = self.rng.random_range(0..self.voters.len()) as u32;
            let subject = self.rng.random_range(0..self.subjects.len()) as u32;
            let up = self.rng.random_bool(0.75);
            self.sent.votes += 1;
            return self.create(time_us, tid, voter, subject, up);
        }
        let index = self.rng.random_range(0..self.live.len());
        if pick < 0.75 {
            let LiveVote { voter, subject, up, .. } = self.live[index];
            self.sent.revotes += 1;
            self.create(time_us, tid, voter, subject, !up)
        } else if pick < 0.85 {
            let vote = &mut self.live[index];
            vote.up = !vote.up;
            let vote = vote.clone();
            self.sent.flips += 1;
            let record = self.record(&vote);
            self.commit(time_us, &tid, &vote, "update", Some(record))
        } else {
            let vote = self.live.swap_remove(index);
            self.sent.deletes += 1;
            self.commit(time_us, &tid, &vote, "delete", None)
        }
    }

    fn create(&mut self, time_us: i64, tid: Tid, voter: u32, subject: u32, up: bool) -> Event {
        let created_ms = time_us.div_euclid(1000);
        let created_at = chrono::DateTime::from_timestamp_millis(created_ms).map(|t| format_datetime(&t));
        let vote =
            LiveVote { voter, subject, rkey: tid.clone(), created_at: created_at.unwrap_or_default(), created_ms, up };
        let record = self.record(&vote);
        let event = self.commit(time_us, &tid, &vote, "create", Some(record));
        self.live.push(vote);
        event
    }

    fn record(&self, vote: &LiveVote) -> serde_json::Value {
        let subject = &self.subjects[vote.subject as usize];
        json!({
            "$type": VOTE_COLLECTION,
            "subject": {"uri": subject.uri, "cid": subject.cid},
            "direction": if vote.up { "up" } else { "down" },
            "createdAt": vote.created_at,
        })
    }

    fn commit(
        &mut self,
        time_us: i64,
        rev: &Tid,
        vote: &LiveVote,
        operation: &str,
        record: Option<serde_json::Value>,
    ) -> Event {
        let mut commit = json!({
            "rev": rev.as_str(),
            "operation": operation,
            "collection": VOTE_COLLECTION,
            "rkey": vote.rkey.as_str(),
        });
        if let Some(record) = record {
            commit["record"] = record;
            commit["cid"] = json!(random_cid(&mut self.rng));
        }
        let event = json!({
            "did": self.voters[vote.voter as usize],
            "time_us": time_us,
            "kind": "commit",
            "commit": commit,
        });
        Event { time_us, json: event.to_string() }
    }

    /// Each subject's (upvotes, downvotes) once every event sent so far is applied: per
    /// (voter, subject), the live record with the greatest (createdAt, rkey) counts.
    pub fn expected_counts(&self) -> Vec<(i64, i64)> {
        let mut effective: HashMap<(u32, u32), &LiveVote> = HashMap::new();
        for vote in &self.live {
            let newest = effective.entry((vote.voter, vote.subject)).or_insert(vote);
            if (vote.created_ms, &vote.rkey) > (newest.created_ms, &newest.rkey) {
                *newest = vote;
            }
        }
        let mut counts = vec![(0, 0); self.subjects.len()];
        for vote in effective.values() {
            let (up, down) = &mut counts[vote.subject as usize];
            if vote.up {
                *up += 1;
            } else {
                *down += 1;
            }
        }
        counts
    }
}

/// A `did:plc:` identifier: 24 random base32 characters.
pub fn plc_did(rng: &mut impl Rng) -> String {
    let mut did = String::from("did:plc:");
    did.extend((0..24).map(|_| char::from(*BASE32.choose(rng).unwrap_or(&b'a'))));
    did
}

/// A CIDv1 of the dag-cbor/sha2-256 shape (`bafyrei` + 52 base32 characters), random.
pub fn random_cid(rng: &mut impl Rng) -> String {
    let mut cid = String::from("bafyrei");
    cid.extend((0..52).map(|_| char::from(*BASE32.choose(rng).unwrap_or(&b'a'))));
    cid
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ingest::Event as Decoded;
    use coves_plugin_api::CommitOp;

    fn subjects(n: usize) -> Vec<Subject> {
        (0..n)
            .map(|i| Subject {
                uri: format!("at://did:plc:community{i}/social.coves.community.post/3l{i:011}"),
                cid: format!("bafyreisubject{i}"),
            })
            .collect()
    }

    /// Replays the decoded events the way the vote plugin's rule reads them: records by
    /// (voter, rkey) with their newest rev; per pair the live record with the greatest
    /// (createdAt, rkey).
    fn recount(events: &[Event], subjects: &[Subject]) -> Vec<(i64, i64)> {
        type Record = (String, String, chrono::DateTime<chrono::Utc>, i16);
        let mut records: BTreeMap<(String, String), Option<Record>> = BTreeMap::new();
        for event in events {
            let Decoded::Commit(commit) = crate::jetstream::wire::decode(event.json.as_bytes()).expect("decodes")
            else {
                panic!("not a commit: {}", event.json);
            };
            assert_eq!(commit.collection.as_str(), VOTE_COLLECTION);
            let key = (commit.did.to_string(), commit.rkey.to_string());
            let value = match &commit.op {
                CommitOp::Create { record, .. } | CommitOp::Update { record, .. } => {
                    let created =
                        record["createdAt"].as_str().and_then(coves_plugin_api::syntax::parse_datetime_lenient);
                    let direction = if record["direction"] == "up" { 1 } else { -1 };
                    Some((
                        record["subject"]["uri"].as_str().expect("uri").to_owned(),
                        commit.rkey.to_string(),
                        created.expect("createdAt"),
                        direction,
                    ))
                }
                CommitOp::Delete => None,
            };
            records.insert(key, value);
        }
        let mut effective: BTreeMap<(String, String), Record> = BTreeMap::new();
        for ((voter, _), record) in records {
            let Some(record) = record else { continue };
            let pair = (voter, record.0.clone());
            match effective.get(&pair) {
                Some(best) if (best.2, &best.1) >= (record.2, &record.1) => {}
                _ => {
                    effective.insert(pair, record);
                }
            }
        }
        let index: HashMap<&str, usize> = subjects.iter().enumerate().map(|(i, s)| (s.uri.as_str(), i)).collect();
        let mut counts = vec![(0, 0); subjects.len()];
        for record in effective.values() {
            let (up, down) = &mut counts[index[record.0.as_str()]];
            if record.3 > 0 { *up += 1 } else { *down += 1 }
        }
        counts
    }

    #[test]
    fn expected_counts_equal_a_replay_of_the_sent_events() {
        // Few voters and subjects, and many events in the same millisecond, so pairs get
        // several records and createdAt ties are broken by rkey.
        let mut stream = VoteStream::new(subjects(5), 4, 7);
        let events: Vec<Event> = (0..3_000).map(|i| stream.next_event(1_700_000_000_000_000 + i / 5)).collect();
        let sent = stream.sent();
        assert_eq!(sent.total(), 3_000);
        assert!(sent.votes > 0 && sent.revotes > 0 && sent.flips > 0 && sent.deletes > 0, "{sent:?}");
        let expected = stream.expected_counts();
        assert_eq!(expected, recount(&events, stream.subjects()));
        assert!(expected.iter().any(|&(up, down)| up > 0 && down > 0), "{expected:?}");
    }

    #[test]
    fn times_and_revs_only_grow() {
        let mut stream = VoteStream::new(subjects(3), 10, 1);
        let events: Vec<Event> = (0..100).map(|_| stream.next_event(5)).collect();
        assert!(events.windows(2).all(|w| w[0].time_us < w[1].time_us));
        let revs: Vec<String> = events
            .iter()
            .map(|e| serde_json::from_str::<serde_json::Value>(&e.json).expect("json")["commit"]["rev"].to_string())
            .collect();
        assert!(revs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn identifiers_have_their_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let did: coves_plugin_api::syntax::Did = plc_did(&mut rng).parse().expect("a DID");
        assert_eq!(did.as_str().len(), 32);
        let cid = random_cid(&mut rng);
        assert!(coves_plugin_api::syntax::Cid::new(&cid).is_ok(), "{cid}");
    }
}
