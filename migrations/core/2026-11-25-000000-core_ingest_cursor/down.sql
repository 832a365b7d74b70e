DROP TABLE ingest_cursor;
