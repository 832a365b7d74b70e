-- social.coves.community.block records (COVES_API §2.3), which live in the blocker's repo,
-- and the relation they make: a user blocks a community while at least one live record
-- names it; the newest one (greatest (createdAt, rkey)) stands for the block. Kept by
-- plugins/api's community_relation module.
CREATE TABLE community_block_records (
    actor_did text COLLATE "C" NOT NULL,
    rkey text COLLATE "C" NOT NULL,
    community_did text COLLATE "C",
    created_at timestamptz,
    record jsonb,
    cid text COLLATE "C",
    rev text COLLATE "C" NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_did, rkey)
);

CREATE INDEX community_block_records_live_by_pair
    ON community_block_records (actor_did, community_did, created_at DESC, rkey DESC) WHERE NOT deleted;

COMMENT ON TABLE community_block_records IS 'social.coves.community.block records, one row per (blocker, rkey); deleted ones stay as tombstones (also when the delete arrives first) so an older create cannot revive them.';
COMMENT ON COLUMN community_block_records.actor_did IS 'The blocker: DID of the repo the record lives in.';
COMMENT ON COLUMN community_block_records.rkey IS 'Record key (a TID); breaks createdAt ties between a blocker''s records for one community.';
COMMENT ON COLUMN community_block_records.community_did IS 'Record subject: the community''s DID (a handle subject is resolved to the indexed community''s DID at ingest). NULL only on a tombstone of a record never seen live.';
COMMENT ON COLUMN community_block_records.created_at IS 'Record createdAt (lenient parse; the event time when unparseable); orders a blocker''s records for one community.';
COMMENT ON COLUMN community_block_records.record IS 'The record as received (unknown keys included); NULL on tombstones.';
COMMENT ON COLUMN community_block_records.cid IS 'CID of the indexed record version; NULL on tombstones.';
COMMENT ON COLUMN community_block_records.rev IS 'Repo rev of the last applied commit; older or equal revs (replays, overtaken commits) are ignored.';
COMMENT ON COLUMN community_block_records.deleted IS 'The record was deleted.';
COMMENT ON COLUMN community_block_records.indexed_at IS 'When the row last changed.';

CREATE TABLE community_blocks (
    actor_did text COLLATE "C" NOT NULL,
    community_did text COLLATE "C" NOT NULL,
    rkey text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (actor_did, community_did)
);

COMMENT ON TABLE community_blocks IS 'Who blocks which community: one row per (blocker, community) with at least one live block record, always the newest of them. Rows exist whether or not the community is indexed yet.';
COMMENT ON COLUMN community_blocks.actor_did IS 'The blocker''s DID.';
COMMENT ON COLUMN community_blocks.community_did IS 'The community''s DID.';
COMMENT ON COLUMN community_blocks.rkey IS 'Record key of the newest live block record (greatest (createdAt, rkey)); at://actor_did/social.coves.community.block/rkey.';
COMMENT ON COLUMN community_blocks.created_at IS 'createdAt of that record.';
