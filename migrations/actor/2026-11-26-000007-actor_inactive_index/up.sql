-- Reads hide the content of inactive accounts with `NOT EXISTS (... status <> 'active')`.
-- Inactive accounts are few, so a partial index on them keeps that check to a probe of a
-- tiny index instead of a scan of every actor.
CREATE INDEX actors_inactive ON actors (did) WHERE status <> 'active';
