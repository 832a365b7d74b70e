-- The timeline's contentVisibility rule (feed plugin, score_levels.rs): a subscription at
-- level v shows the community's posts scoring at least min_scores[v], the score of its
-- k-th best live post of the last 30 days, k = ceil(share(v) × posts) (ties pass too):
-- share 1 → 10 %, 2 → 25 %, 3 → 50 %, 4 → 75 %; level 5 shows every post. Refreshed
-- periodically by the feed plugin's task; a community without a row shows every post.
CREATE TABLE community_score_levels (
    community_did text COLLATE "C" PRIMARY KEY,
    min_scores integer[] NOT NULL CHECK (cardinality(min_scores) = 4),
    posts integer NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE community_score_levels IS 'Per community, the lowest score a post needs at contentVisibility levels 1-4 of a timeline (level 5: none).';
COMMENT ON COLUMN community_score_levels.community_did IS 'The community (rows exist only for communities with live posts in the last 30 days).';
COMMENT ON COLUMN community_score_levels.min_scores IS 'Minimum score at levels 1, 2, 3 and 4: the score of the community''s k-th best live post of the last 30 days, k = ceil(share × posts) for shares 10, 25, 50 and 75 %.';
COMMENT ON COLUMN community_score_levels.posts IS 'How many posts the percentiles were taken over.';
COMMENT ON COLUMN community_score_levels.refreshed_at IS 'When the row was last computed.';
