DROP TRIGGER communities_count_stored_posts ON communities;
DROP FUNCTION posts_count_for_new_community();
DROP TABLE posts;
