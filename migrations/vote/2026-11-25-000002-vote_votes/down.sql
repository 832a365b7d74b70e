DROP TABLE vote_counts;
DROP TABLE votes;
