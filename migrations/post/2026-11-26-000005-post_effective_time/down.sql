DROP INDEX posts_live_by_time;
DROP INDEX posts_live_by_community;
DROP INDEX posts_live_by_author;
ALTER TABLE posts DROP COLUMN sort_at;
CREATE INDEX posts_live_by_community ON posts (community_did, created_at DESC, uri DESC) WHERE NOT deleted;
CREATE INDEX posts_live_by_author ON posts (author_did, created_at DESC, uri DESC) WHERE NOT deleted;
