DROP TABLE communities;
-- pg_trgm stays: an extension is database-wide and may serve other owners' indexes;
-- up.sql creates it only if it is missing.
