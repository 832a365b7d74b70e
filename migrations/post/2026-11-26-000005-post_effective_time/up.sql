-- Reads order posts by their effective creation time (COVES_API §6.1): clients choose
-- createdAt, so a future-dated post would float to the top; min(createdAt, indexedAt)
-- cannot lie about being newer than the AppView's first sight of it.
ALTER TABLE posts ADD COLUMN sort_at timestamptz GENERATED ALWAYS AS (LEAST(created_at, indexed_at)) STORED;

DROP INDEX posts_live_by_community;
DROP INDEX posts_live_by_author;
CREATE INDEX posts_live_by_community ON posts (community_did, sort_at DESC, uri DESC) WHERE NOT deleted;
CREATE INDEX posts_live_by_author ON posts (author_did, sort_at DESC, uri DESC) WHERE NOT deleted;
CREATE INDEX posts_live_by_time ON posts (sort_at DESC, uri DESC) WHERE NOT deleted;

COMMENT ON COLUMN posts.sort_at IS 'Effective creation time: min(createdAt, indexedAt). Orders every read, and is the createdAt views show.';
