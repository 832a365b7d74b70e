DROP TABLE vote_counts;
DROP TABLE vote_effective;
DROP TABLE votes;
