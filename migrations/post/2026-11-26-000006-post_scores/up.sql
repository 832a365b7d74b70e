-- Each post carries its score (upvotes − downvotes, owned by the vote plugin's
-- vote_counts), so ranked lists read it without a join and can find a community's
-- highest-scored posts through an index: hot lists compute ranks only for recent posts
-- and for the few older ones whose score could still place them (post service,
-- list_posts).
ALTER TABLE posts ADD COLUMN score integer NOT NULL DEFAULT 0;

UPDATE posts p SET score = vc.upvotes - vc.downvotes FROM vote_counts vc WHERE vc.subject_uri = p.uri;

CREATE INDEX posts_live_by_community_score ON posts (community_did, score DESC) WHERE NOT deleted;
CREATE INDEX posts_live_by_score ON posts (score DESC) WHERE NOT deleted;

COMMENT ON COLUMN posts.score IS 'upvotes − downvotes from vote_counts, kept by the vote_counts triggers below (and set from vote_counts when the post is first stored).';

-- One UPDATE per vote statement, whatever its size: the statement's changed counters
-- arrive as a transition table.
CREATE FUNCTION posts_follow_vote_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE posts p SET score = c.upvotes - c.downvotes
    FROM changed_counts c
    WHERE p.uri = c.subject_uri AND p.score <> c.upvotes - c.downvotes;
    RETURN NULL;
END
$$;

CREATE TRIGGER vote_counts_inserted_move_post_scores AFTER INSERT ON vote_counts
    REFERENCING NEW TABLE AS changed_counts FOR EACH STATEMENT EXECUTE FUNCTION posts_follow_vote_counts();
CREATE TRIGGER vote_counts_updated_move_post_scores AFTER UPDATE ON vote_counts
    REFERENCING NEW TABLE AS changed_counts FOR EACH STATEMENT EXECUTE FUNCTION posts_follow_vote_counts();

COMMENT ON FUNCTION posts_follow_vote_counts() IS 'Copies changed vote counts to posts.score (owned by the post plugin).';
