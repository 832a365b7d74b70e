-- Identity (verified handle, PDS) and account status of each known actor.
ALTER TABLE actors
    ADD COLUMN pds_endpoint text,
    ADD COLUMN handle_verified_at timestamptz,
    ADD COLUMN handle_error text,
    ADD COLUMN verify_after timestamptz DEFAULT now(),
    ADD COLUMN status text COLLATE "C" NOT NULL DEFAULT 'active',
    ADD COLUMN status_time_us bigint;

CREATE INDEX actors_verify_due ON actors (verify_after) WHERE verify_after IS NOT NULL;

COMMENT ON COLUMN actors.pds_endpoint IS 'The #atproto_pds endpoint from the DID document (for blob URLs); NULL until resolved.';
COMMENT ON COLUMN actors.handle_verified_at IS 'When the handle was last verified both ways (DID document claims it, it resolves to the DID).';
COMMENT ON COLUMN actors.handle_error IS 'Why the last identity check failed; NULL after a success.';
COMMENT ON COLUMN actors.verify_after IS 'When the identity check is next due (new actors, identity events, retries); NULL when none is due.';
COMMENT ON COLUMN actors.status IS 'Account status from Jetstream account events: active, or why not (deactivated, takendown, suspended, deleted, ...). Only active actors are readable.';
COMMENT ON COLUMN actors.status_time_us IS 'Jetstream time_us of the account event that set status; older events are ignored.';
