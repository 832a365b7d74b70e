DROP TABLE comment_counts;
DROP TABLE comments;
