-- social.coves.community.comment records, which live in the commenter's repo, and the
-- reply counts of their parents and thread roots. Deleted comments stay as placeholders
-- (thread shape kept, content dropped) with their rev, so a replayed create cannot
-- revive them; a delete that arrives first leaves a tombstone for the same reason.
CREATE TABLE comments (
    uri text COLLATE "C" PRIMARY KEY,
    commenter_did text COLLATE "C" NOT NULL,
    rkey text COLLATE "C" NOT NULL,
    cid text COLLATE "C",
    rev text COLLATE "C" NOT NULL,
    record jsonb,
    root_uri text COLLATE "C",
    root_cid text COLLATE "C",
    parent_uri text COLLATE "C",
    parent_cid text COLLATE "C",
    content text,
    facets jsonb,
    embed jsonb,
    langs text[] NOT NULL DEFAULT '{}',
    labels jsonb,
    created_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    sort_at timestamptz GENERATED ALWAYS AS (LEAST(created_at, indexed_at)) STORED,
    edited_at timestamptz,
    deleted boolean NOT NULL DEFAULT false,
    deleted_at timestamptz,
    deletion_reason text
);

-- Threads list every child of a parent, deleted placeholders included.
CREATE INDEX comments_by_parent ON comments (parent_uri, sort_at DESC, uri DESC);
CREATE INDEX comments_live_by_root ON comments (root_uri) WHERE NOT deleted;
CREATE INDEX comments_live_by_commenter ON comments (commenter_did, sort_at DESC, uri DESC) WHERE NOT deleted;

COMMENT ON TABLE comments IS 'social.coves.community.comment records (COVES_API §2.5), one row per URI. Deleted comments keep their thread position as placeholders; a delete that arrives before its create leaves a tombstone, so an older create cannot revive it.';
COMMENT ON COLUMN comments.uri IS 'at://<commenter DID>/social.coves.community.comment/<rkey>.';
COMMENT ON COLUMN comments.commenter_did IS 'The repo the comment lives in: its author.';
COMMENT ON COLUMN comments.rkey IS 'Record key (a TID).';
COMMENT ON COLUMN comments.cid IS 'CID of the indexed record version (of the last live one on placeholders); NULL only on tombstones of comments never seen live.';
COMMENT ON COLUMN comments.rev IS 'Repository rev of the last applied commit; older commits (replays) are ignored.';
COMMENT ON COLUMN comments.record IS 'The record as received (verbatim, unknown keys included, for XRPC); NULL when deleted.';
COMMENT ON COLUMN comments.root_uri IS 'reply.root.uri: the post at the top of the thread (need not be indexed). Kept on delete; NULL only on tombstones of comments never seen live.';
COMMENT ON COLUMN comments.root_cid IS 'reply.root.cid.';
COMMENT ON COLUMN comments.parent_uri IS 'reply.parent.uri: the post (top-level comment) or comment replied to (need not be indexed). Kept on delete; NULL only on tombstones of comments never seen live.';
COMMENT ON COLUMN comments.parent_cid IS 'reply.parent.cid.';
COMMENT ON COLUMN comments.content IS 'Record content (non-empty, at most 30000 UTF-8 bytes); NULL when deleted.';
COMMENT ON COLUMN comments.facets IS 'Record facets, verbatim (UTF-8 byte offsets); NULL when absent or deleted.';
COMMENT ON COLUMN comments.embed IS 'Record embed, verbatim (images, post, or unknown types); NULL when absent or deleted.';
COMMENT ON COLUMN comments.langs IS 'Record langs (strings only); empty when absent or deleted.';
COMMENT ON COLUMN comments.labels IS 'Record self-labels (com.atproto.label.defs#selfLabels), verbatim; NULL when absent or deleted.';
COMMENT ON COLUMN comments.created_at IS 'Record createdAt (lenient parse; the event time when unparseable). Kept by updates; NULL only on tombstones of comments never seen live.';
COMMENT ON COLUMN comments.indexed_at IS 'When the current record was first indexed (reset when a deleted comment is revived).';
COMMENT ON COLUMN comments.sort_at IS 'Effective createdAt (COVES_API §6.1): the earlier of created_at and indexed_at, so future-dated comments cannot float up. Sort and page threads by it.';
COMMENT ON COLUMN comments.edited_at IS 'Event time of the last applied update; NULL if never edited since created or revived.';
COMMENT ON COLUMN comments.deleted IS 'Soft delete: content dropped, the row stays as a thread placeholder and keeps its rev.';
COMMENT ON COLUMN comments.deleted_at IS 'Event time of the delete; NULL while live.';
COMMENT ON COLUMN comments.deletion_reason IS 'Who removed the comment: ''author'' for a record delete; NULL while live.';

CREATE TABLE comment_counts (
    subject_uri text COLLATE "C" PRIMARY KEY,
    reply_count integer NOT NULL DEFAULT 0,
    thread_count integer NOT NULL DEFAULT 0
) WITH (fillfactor = 70); -- room for HOT updates: counters change on every batch

COMMENT ON TABLE comment_counts IS 'Live comments per post or comment URI, kept in the ingest transaction by deltas on live-state changes; rows exist before their subject is indexed.';
COMMENT ON COLUMN comment_counts.subject_uri IS 'A post or comment URI (any URI a comment names as its parent or root).';
COMMENT ON COLUMN comment_counts.reply_count IS 'Live comments whose parent_uri is the subject: a post''s commentCount (top-level only), a comment''s replyCount.';
COMMENT ON COLUMN comment_counts.thread_count IS 'Live comments whose root_uri is the subject: a post''s totalCommentCount (the whole thread).';
