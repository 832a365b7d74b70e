DROP TABLE unfurl_cache;
DROP TABLE unfurl_queue;
DROP TABLE unfurl_post_links;
