DROP TRIGGER vote_counts_updated_move_post_scores ON vote_counts;
DROP TRIGGER vote_counts_inserted_move_post_scores ON vote_counts;
DROP FUNCTION posts_follow_vote_counts();
DROP INDEX posts_live_by_score;
DROP INDEX posts_live_by_community_score;
ALTER TABLE posts DROP COLUMN score;
