-- social.coves.community.subscription records (COVES_API §2.2), which live in the
-- subscriber's repo, and the relation they make: a user is subscribed to a community while
-- at least one live record names it, with the contentVisibility of the newest one
-- (greatest (createdAt, rkey)). Kept by plugins/api's community_relation module.
CREATE TABLE community_subscription_records (
    actor_did text COLLATE "C" NOT NULL,
    rkey text COLLATE "C" NOT NULL,
    community_did text COLLATE "C",
    content_visibility smallint,
    created_at timestamptz,
    record jsonb,
    cid text COLLATE "C",
    rev text COLLATE "C" NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_did, rkey)
);

CREATE INDEX community_subscription_records_live_by_pair
    ON community_subscription_records (actor_did, community_did, created_at DESC, rkey DESC) WHERE NOT deleted;

COMMENT ON TABLE community_subscription_records IS 'social.coves.community.subscription records, one row per (subscriber, rkey); deleted ones stay as tombstones (also when the delete arrives first) so an older create cannot revive them.';
COMMENT ON COLUMN community_subscription_records.actor_did IS 'The subscriber: DID of the repo the record lives in.';
COMMENT ON COLUMN community_subscription_records.rkey IS 'Record key (a TID); breaks createdAt ties between a subscriber''s records for one community.';
COMMENT ON COLUMN community_subscription_records.community_did IS 'Record subject: the community''s DID (a handle subject is resolved to the indexed community''s DID at ingest). NULL only on a tombstone of a record never seen live.';
COMMENT ON COLUMN community_subscription_records.content_visibility IS 'Record contentVisibility clamped to 1..5 (3 when missing or not an integer).';
COMMENT ON COLUMN community_subscription_records.created_at IS 'Record createdAt (lenient parse; the event time when unparseable); orders a subscriber''s records for one community.';
COMMENT ON COLUMN community_subscription_records.record IS 'The record as received (endedAt and unknown keys included); NULL on tombstones.';
COMMENT ON COLUMN community_subscription_records.cid IS 'CID of the indexed record version; NULL on tombstones.';
COMMENT ON COLUMN community_subscription_records.rev IS 'Repo rev of the last applied commit; older or equal revs (replays, overtaken commits) are ignored.';
COMMENT ON COLUMN community_subscription_records.deleted IS 'The record was deleted.';
COMMENT ON COLUMN community_subscription_records.indexed_at IS 'When the row last changed.';

CREATE TABLE community_subscriptions (
    actor_did text COLLATE "C" NOT NULL,
    community_did text COLLATE "C" NOT NULL,
    rkey text COLLATE "C" NOT NULL,
    content_visibility smallint NOT NULL CHECK (content_visibility BETWEEN 1 AND 5),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (actor_did, community_did)
);

CREATE INDEX community_subscriptions_by_community ON community_subscriptions (community_did, actor_did);

COMMENT ON TABLE community_subscriptions IS 'Who is subscribed to which community: one row per (subscriber, community) with at least one live subscription record, always the newest of them. Rows exist whether or not the community is indexed yet.';
COMMENT ON COLUMN community_subscriptions.actor_did IS 'The subscriber''s DID.';
COMMENT ON COLUMN community_subscriptions.community_did IS 'The community''s DID.';
COMMENT ON COLUMN community_subscriptions.rkey IS 'Record key of the newest live subscription record (greatest (createdAt, rkey)); at://actor_did/social.coves.community.subscription/rkey.';
COMMENT ON COLUMN community_subscriptions.content_visibility IS 'contentVisibility of that record, 1 (only the best posts) to 5 (everything).';
COMMENT ON COLUMN community_subscriptions.created_at IS 'createdAt of that record.';

-- communities.subscriber_count (owned by the community plugin) = rows here per community.
-- Rows are only inserted and deleted when a pair starts or stops being subscribed (a
-- newer record for a subscribed pair updates its row, which moves nothing), so the
-- count moves by the rows of each statement, read from its transition tables.
CREATE FUNCTION community_subscriptions_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE communities c SET subscriber_count = c.subscriber_count + a.n
    FROM (SELECT community_did, count(*) AS n FROM added GROUP BY community_did) a
    WHERE c.did = a.community_did;
    RETURN NULL;
END
$$;

CREATE FUNCTION community_subscriptions_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE communities c SET subscriber_count = GREATEST(c.subscriber_count - r.n, 0)
    FROM (SELECT community_did, count(*) AS n FROM removed GROUP BY community_did) r
    WHERE c.did = r.community_did;
    RETURN NULL;
END
$$;

CREATE TRIGGER community_subscriptions_count_added AFTER INSERT ON community_subscriptions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION community_subscriptions_added();
CREATE TRIGGER community_subscriptions_count_removed AFTER DELETE ON community_subscriptions
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION community_subscriptions_removed();

COMMENT ON FUNCTION community_subscriptions_added() IS 'Adds a statement''s new subscriptions to communities.subscriber_count (owned by the subscription plugin).';
COMMENT ON FUNCTION community_subscriptions_removed() IS 'Takes a statement''s ended subscriptions from communities.subscriber_count, never below 0 (owned by the subscription plugin).';

-- A community whose profile arrives after its subscriptions starts from the rows already
-- stored (COVES_API §7.2: child before parent).
CREATE FUNCTION community_subscriptions_count_for_new_community() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.subscriber_count := (SELECT count(*) FROM community_subscriptions WHERE community_did = NEW.did);
    RETURN NEW;
END
$$;

CREATE TRIGGER communities_count_stored_subscriptions BEFORE INSERT ON communities
    FOR EACH ROW EXECUTE FUNCTION community_subscriptions_count_for_new_community();

COMMENT ON FUNCTION community_subscriptions_count_for_new_community() IS 'Sets a new community''s subscriber_count from the subscriptions stored before its profile arrived (owned by the subscription plugin).';
