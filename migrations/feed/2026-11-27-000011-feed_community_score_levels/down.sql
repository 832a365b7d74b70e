DROP TABLE community_score_levels;
