-- Hot lists rank a community's recent posts (and its few high-scored older ones) from
-- these indexes alone: they carry the sort keys, the score and the author (for the
-- inactive-account check), so only the page's rows are read from the wide table.
DROP INDEX posts_live_by_community;
DROP INDEX posts_live_by_community_score;
DROP INDEX posts_live_by_time;
DROP INDEX posts_live_by_score;
CREATE INDEX posts_live_by_community ON posts (community_did, sort_at DESC, uri DESC) INCLUDE (score, author_did)
    WHERE NOT deleted;
CREATE INDEX posts_live_by_community_score ON posts (community_did, score DESC) INCLUDE (sort_at, uri, author_did)
    WHERE NOT deleted;
CREATE INDEX posts_live_by_time ON posts (sort_at DESC, uri DESC) INCLUDE (score, author_did, community_did)
    WHERE NOT deleted;
CREATE INDEX posts_live_by_score ON posts (score DESC) INCLUDE (sort_at, uri, author_did, community_did)
    WHERE NOT deleted;
