-- Labels the ingest's announcements of changed subjects (pg_notify on channel
-- coves_live, one number per batch): live values carry the number of the newest change
-- they include, so a client reconnecting with it gets a value only if something changed.
CREATE SEQUENCE live_update_seq;

COMMENT ON SEQUENCE live_update_seq IS 'One number per ingest batch that changed live values; increasing in commit order (one ingest writer).';
