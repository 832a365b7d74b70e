DROP INDEX actors_verify_due;
ALTER TABLE actors
    DROP COLUMN pds_endpoint,
    DROP COLUMN handle_verified_at,
    DROP COLUMN handle_error,
    DROP COLUMN verify_after,
    DROP COLUMN status,
    DROP COLUMN status_time_us;
