-- Trigram matching for community search (pg_trgm ships with PostgreSQL's contrib and is a
-- trusted extension: a database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per community DID that ever had a social.coves.community.profile (rkey self, in
-- the community's own repo). A community is readable when it is not deleted and its handle
-- is verified (handle IS NOT NULL): the background check resolves the handle from the
-- DID (never from the record) and verifies hostedBy (COVES_API §3.5).
CREATE TABLE communities (
    did text COLLATE "C" PRIMARY KEY,
    handle text COLLATE "C",
    name text COLLATE "C",
    display_name text,
    description text,
    description_facets jsonb,
    avatar_cid text COLLATE "C",
    banner_cid text COLLATE "C",
    created_by text COLLATE "C",
    hosted_by text COLLATE "C",
    visibility text COLLATE "C" NOT NULL DEFAULT 'public',
    moderation_type text COLLATE "C" NOT NULL DEFAULT 'moderator',
    content_warnings text[] NOT NULL DEFAULT '{}',
    allow_external_discovery boolean NOT NULL DEFAULT true,
    created_at timestamptz,
    record jsonb,
    cid text COLLATE "C",
    rev text COLLATE "C" NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    pds_endpoint text,
    verified_at timestamptz,
    verify_after timestamptz,
    verify_fresh boolean NOT NULL DEFAULT false,
    rejected_reason text,
    status text COLLATE "C" NOT NULL DEFAULT 'active',
    status_time_us bigint,
    subscriber_count bigint NOT NULL DEFAULT 0,
    post_count bigint NOT NULL DEFAULT 0,
    member_count bigint NOT NULL DEFAULT 0,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    search_text text GENERATED ALWAYS AS (
        lower(coalesce(name, '') || ' ' || coalesce(display_name, '') || ' ' || coalesce(description, ''))
    ) STORED,
    CONSTRAINT communities_live_has_record CHECK (
        deleted OR (name IS NOT NULL AND created_by IS NOT NULL AND hosted_by IS NOT NULL AND created_at IS NOT NULL)
    ),
    CONSTRAINT communities_deleted_has_no_handle CHECK (NOT deleted OR handle IS NULL)
);

CREATE UNIQUE INDEX communities_handle_key ON communities (handle) WHERE handle IS NOT NULL;
CREATE INDEX communities_verify_due ON communities (verify_after) WHERE verify_after IS NOT NULL;

-- One index per list order (COVES_API §4.2), each ending with the did tiebreak, over the
-- readable rows only.
CREATE INDEX communities_by_subscribers ON communities (subscriber_count DESC, did)
    WHERE NOT deleted AND handle IS NOT NULL;
CREATE INDEX communities_by_posts ON communities (post_count DESC, did)
    WHERE NOT deleted AND handle IS NOT NULL;
CREATE INDEX communities_by_created ON communities (created_at DESC, did)
    WHERE NOT deleted AND handle IS NOT NULL;
CREATE INDEX communities_by_name ON communities (name, did)
    WHERE NOT deleted AND handle IS NOT NULL;
CREATE INDEX communities_search ON communities USING gin (search_text gin_trgm_ops)
    WHERE NOT deleted AND handle IS NOT NULL;

COMMENT ON TABLE communities IS 'social.coves.community.profile records (rkey self, one per community DID), their verified handles and counters. Deleted profiles stay as tombstones (with their rev) so a replayed create cannot revive them.';
COMMENT ON COLUMN communities.did IS 'The community''s own DID (the repo the profile lives in).';
COMMENT ON COLUMN communities.handle IS 'Handle verified both ways by identity resolution of the DID (never taken from the record), lowercase; NULL until the background check verifies it and hostedBy (COVES_API §3.5). Only communities with a handle are readable.';
COMMENT ON COLUMN communities.name IS 'Record name: the short name in the handle (at most 64 bytes). NULL only on tombstones.';
COMMENT ON COLUMN communities.display_name IS 'Record displayName.';
COMMENT ON COLUMN communities.description IS 'Record description.';
COMMENT ON COLUMN communities.description_facets IS 'Record descriptionFacets, verbatim (a JSON array).';
COMMENT ON COLUMN communities.avatar_cid IS 'CID of the avatar blob.';
COMMENT ON COLUMN communities.banner_cid IS 'CID of the banner blob.';
COMMENT ON COLUMN communities.created_by IS 'Record createdBy: DID of the founding user.';
COMMENT ON COLUMN communities.hosted_by IS 'Record hostedBy: did:web of the hosting instance, verified against the handle before the community is readable.';
COMMENT ON COLUMN communities.visibility IS 'Record visibility as written (public, unlisted, private, or an unknown value); public when absent.';
COMMENT ON COLUMN communities.moderation_type IS 'Record moderationType as written (moderator, sortition, ...); moderator when absent.';
COMMENT ON COLUMN communities.content_warnings IS 'Record contentWarnings (strings only).';
COMMENT ON COLUMN communities.allow_external_discovery IS 'Record federation.allowExternalDiscovery; true when absent.';
COMMENT ON COLUMN communities.created_at IS 'Record createdAt (lenient parse; the event time when absent or unparseable). NULL only on tombstones.';
COMMENT ON COLUMN communities.record IS 'The profile record as received; NULL on tombstones.';
COMMENT ON COLUMN communities.status IS 'Account status of the community''s repo from Jetstream account events: active, or why not (takendown, deactivated, deleted, ...). Only active communities are readable.';
COMMENT ON COLUMN communities.status_time_us IS 'Jetstream time_us of the account event that set status; older events are ignored.';
COMMENT ON COLUMN communities.cid IS 'CID of the indexed profile record; NULL on tombstones.';
COMMENT ON COLUMN communities.rev IS 'Repo rev of the last applied profile commit; older or equal revs (replays, overtaken commits) are ignored.';
COMMENT ON COLUMN communities.deleted IS 'The profile was deleted: the community answers 404 everywhere until a newer profile appears.';
COMMENT ON COLUMN communities.pds_endpoint IS 'The community''s #atproto_pds endpoint from its DID document, stored at verification for blob URLs.';
COMMENT ON COLUMN communities.verified_at IS 'When the handle and hostedBy were last verified; NULL when not verified.';
COMMENT ON COLUMN communities.verify_after IS 'When the next verification is due (new or changed profile, identity event, retry after a failure); a time in the future while a check holds the row; NULL when none is due.';
COMMENT ON COLUMN communities.verify_fresh IS 'The next verification must bypass identity caches (an identity event said the handle may have changed).';
COMMENT ON COLUMN communities.rejected_reason IS 'Why the last verification failed (logged too); NULL after a success.';
COMMENT ON COLUMN communities.subscriber_count IS 'Distinct users with a live subscription record; maintained by the subscription plugin (0 until it exists).';
COMMENT ON COLUMN communities.post_count IS 'Live posts in the community; maintained by the post plugin (0 until it exists).';
COMMENT ON COLUMN communities.member_count IS 'Users with membership status; 0 until a membership model exists.';
COMMENT ON COLUMN communities.indexed_at IS 'When the profile row last changed.';
COMMENT ON COLUMN communities.search_text IS 'Lowercase name, display name and description, for search (trigram index).';
