-- Where ingestion resumes. Written in the same transaction as each batch's effects, so a
-- crash never skips or double-applies events.
CREATE TABLE ingest_cursor (
    stream text COLLATE "C" PRIMARY KEY,
    time_us bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE ingest_cursor IS 'Resume position of each ingest stream (Jetstream time_us of the last committed event).';
COMMENT ON COLUMN ingest_cursor.stream IS 'Name of the stream, e.g. jetstream.';
COMMENT ON COLUMN ingest_cursor.time_us IS 'Jetstream time_us (unix microseconds) of the last event whose effects are committed.';
COMMENT ON COLUMN ingest_cursor.updated_at IS 'When the cursor last moved.';
