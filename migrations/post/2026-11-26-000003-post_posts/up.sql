-- social.coves.community.post records. Posts live in the community's repo; `author` names
-- the user. Deleted posts stay as tombstones (with their rev) so a replayed create cannot
-- revive them.
CREATE TABLE posts (
    uri text COLLATE "C" PRIMARY KEY,
    community_did text COLLATE "C" NOT NULL,
    rkey text COLLATE "C" NOT NULL,
    author_did text COLLATE "C",
    cid text COLLATE "C",
    rev text COLLATE "C" NOT NULL,
    record jsonb,
    title text,
    content text,
    facets jsonb,
    embed jsonb,
    langs text[] NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',
    labels jsonb,
    created_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    edited_at timestamptz,
    deleted boolean NOT NULL DEFAULT false,
    deleted_at timestamptz,
    CONSTRAINT posts_live_has_record CHECK (deleted OR (author_did IS NOT NULL AND cid IS NOT NULL AND created_at IS NOT NULL))
);

CREATE INDEX posts_live_by_community ON posts (community_did, created_at DESC, uri DESC) WHERE NOT deleted;
CREATE INDEX posts_live_by_author ON posts (author_did, created_at DESC, uri DESC) WHERE NOT deleted;

COMMENT ON TABLE posts IS 'social.coves.community.post records (COVES_API §2.4), one row per URI; deleted posts are tombstones (also when the delete arrives first), so an older create cannot revive them.';
COMMENT ON COLUMN posts.uri IS 'at://<community DID>/social.coves.community.post/<rkey>.';
COMMENT ON COLUMN posts.community_did IS 'The repo the post lives in: the community (the record''s community must name it).';
COMMENT ON COLUMN posts.rkey IS 'Record key (a TID).';
COMMENT ON COLUMN posts.author_did IS 'Record author: the user who wrote the post (never changed by updates). NULL only on tombstones of posts never seen live.';
COMMENT ON COLUMN posts.cid IS 'CID of the indexed record version; NULL only on tombstones of posts never seen live.';
COMMENT ON COLUMN posts.rev IS 'Repository rev of the last applied commit; older commits (replays) are ignored.';
COMMENT ON COLUMN posts.record IS 'The record as received (verbatim, for XRPC); NULL on tombstones.';
COMMENT ON COLUMN posts.title IS 'Record title.';
COMMENT ON COLUMN posts.content IS 'Record content.';
COMMENT ON COLUMN posts.facets IS 'Record facets, verbatim (UTF-8 byte offsets).';
COMMENT ON COLUMN posts.embed IS 'Record embed, verbatim (external, images, video, post, or unknown types).';
COMMENT ON COLUMN posts.langs IS 'Record langs.';
COMMENT ON COLUMN posts.tags IS 'Record tags.';
COMMENT ON COLUMN posts.labels IS 'Record self-labels (com.atproto.label.defs#selfLabels), verbatim.';
COMMENT ON COLUMN posts.created_at IS 'Record createdAt (lenient parse; the indexing time when unparseable). Kept by updates; NULL only on tombstones of posts never seen live.';
COMMENT ON COLUMN posts.indexed_at IS 'When the post was first indexed.';
COMMENT ON COLUMN posts.edited_at IS 'Event time of the last applied update; NULL if never edited.';
COMMENT ON COLUMN posts.deleted IS 'Soft delete: the post leaves every read; the row keeps its rev.';
COMMENT ON COLUMN posts.deleted_at IS 'Event time of the delete.';

-- communities.post_count counts live posts. The post plugin keeps it exact for the
-- communities a batch touches; a community whose profile arrives after its posts starts
-- from the posts already stored (COVES_API §7.2: child before parent).
CREATE FUNCTION posts_count_for_new_community() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.post_count := (SELECT count(*) FROM posts WHERE community_did = NEW.did AND NOT deleted);
    RETURN NEW;
END
$$;

CREATE TRIGGER communities_count_stored_posts BEFORE INSERT ON communities
    FOR EACH ROW EXECUTE FUNCTION posts_count_for_new_community();

COMMENT ON FUNCTION posts_count_for_new_community() IS 'Sets a new community''s post_count from the live posts stored before its profile arrived (owned by the post plugin).';
