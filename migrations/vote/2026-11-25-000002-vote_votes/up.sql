-- Identifiers (URIs, DIDs, TIDs) use the "C" collation: binary comparison is the right
-- order for them and keeps index lookups cheap (a locale collation costs strcoll calls).
--
-- Every vote record ever seen (deleted ones stay as tombstones) and the counters derived
-- from the effective votes. The effective vote of a (voter, subject) pair is the live vote
-- with the greatest (createdAt, rkey): one probe of votes_live_by_pair.
-- Rows are kept narrow (no URI, no CIDs): votes are most of the stream, and every byte
-- is written to the heap, the indexes and the WAL. The URI is at://voter/<collection>/rkey.
CREATE TABLE votes (
    voter text COLLATE "C" NOT NULL,
    rkey text COLLATE "C" NOT NULL,
    subject_uri text COLLATE "C",
    direction smallint,
    created_at timestamptz,
    rev text COLLATE "C" NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (voter, rkey)
);

CREATE INDEX votes_live_by_pair ON votes (subject_uri, voter, created_at DESC, rkey DESC) WHERE NOT deleted;

COMMENT ON TABLE votes IS 'social.coves.feed.vote records; deleted ones are kept as tombstones so a replayed create cannot revive them.';
COMMENT ON COLUMN votes.voter IS 'DID of the repo the vote lives in.';
COMMENT ON COLUMN votes.rkey IS 'Record key (a TID); breaks createdAt ties between a voter''s votes.';
COMMENT ON COLUMN votes.subject_uri IS 'The voted post or comment; NULL for a tombstone of a vote never seen alive.';
COMMENT ON COLUMN votes.direction IS '1 = up, -1 = down.';
COMMENT ON COLUMN votes.created_at IS 'Record createdAt (event time when unparseable); orders a voter''s competing votes.';
COMMENT ON COLUMN votes.rev IS 'Repo rev of the last applied commit; older commits are ignored.';
COMMENT ON COLUMN votes.deleted IS 'The record was deleted.';
COMMENT ON COLUMN votes.indexed_at IS 'When the row last changed.';

CREATE TABLE vote_counts (
    subject_uri text COLLATE "C" PRIMARY KEY,
    upvotes integer NOT NULL DEFAULT 0,
    downvotes integer NOT NULL DEFAULT 0
) WITH (fillfactor = 70); -- room for HOT updates: counters change on every batch

COMMENT ON TABLE vote_counts IS 'Effective up- and downvotes per subject URI, kept in the ingest transaction; exists before the subject is indexed.';
COMMENT ON COLUMN vote_counts.subject_uri IS 'The post or comment.';
COMMENT ON COLUMN vote_counts.upvotes IS 'Effective upvotes.';
COMMENT ON COLUMN vote_counts.downvotes IS 'Effective downvotes.';
