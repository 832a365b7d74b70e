DROP INDEX posts_live_by_community;
DROP INDEX posts_live_by_community_score;
DROP INDEX posts_live_by_time;
DROP INDEX posts_live_by_score;
CREATE INDEX posts_live_by_community ON posts (community_did, sort_at DESC, uri DESC) WHERE NOT deleted;
CREATE INDEX posts_live_by_community_score ON posts (community_did, score DESC) WHERE NOT deleted;
CREATE INDEX posts_live_by_time ON posts (sort_at DESC, uri DESC) WHERE NOT deleted;
CREATE INDEX posts_live_by_score ON posts (score DESC) WHERE NOT deleted;
