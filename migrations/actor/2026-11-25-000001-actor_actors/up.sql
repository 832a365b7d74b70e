-- Every account that owns a Coves record or is named as a post author, with its profile.
CREATE TABLE actors (
    did text COLLATE "C" PRIMARY KEY,
    handle text COLLATE "C",
    display_name text,
    bio text,
    avatar_cid text,
    banner_cid text,
    profile_created_at timestamptz,
    profile_record jsonb,
    profile_cid text,
    profile_rev text COLLATE "C",
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    indexed_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX actors_handle_key ON actors (handle) WHERE handle IS NOT NULL;

COMMENT ON TABLE actors IS 'Accounts known to the AppView and their social.coves.actor.profile.';
COMMENT ON COLUMN actors.did IS 'The account DID.';
COMMENT ON COLUMN actors.handle IS 'Verified handle (lowercase); NULL until identity resolution verifies one.';
COMMENT ON COLUMN actors.display_name IS 'Profile displayName, truncated to 64 graphemes.';
COMMENT ON COLUMN actors.bio IS 'Profile bio (or the Go AppView''s description), truncated to 256 graphemes.';
COMMENT ON COLUMN actors.avatar_cid IS 'CID of the avatar blob.';
COMMENT ON COLUMN actors.banner_cid IS 'CID of the banner blob.';
COMMENT ON COLUMN actors.profile_created_at IS 'Profile createdAt as written (lenient parse); NULL when absent.';
COMMENT ON COLUMN actors.profile_record IS 'The profile record as received; NULL when there is none (never written or deleted).';
COMMENT ON COLUMN actors.profile_cid IS 'CID of the indexed profile record.';
COMMENT ON COLUMN actors.profile_rev IS 'Repository rev of the last applied profile commit; older commits (replays) are ignored.';
COMMENT ON COLUMN actors.first_seen_at IS 'When the AppView first saw the account.';
COMMENT ON COLUMN actors.indexed_at IS 'When the profile row last changed.';
