-- Link previews of posts (the unfurl plugin). The ingest only writes which link each post
-- previews and queues the link; a background task fetches it (ADR 0010).

CREATE TABLE unfurl_post_links (
    post_uri text COLLATE "C" PRIMARY KEY,
    url text COLLATE "C" NOT NULL
);

COMMENT ON TABLE unfurl_post_links IS 'The link each live post previews: its external embed''s uri, else its first link facet, else the first http(s) URL in its content. Written by the ingest (unfurl observes post commits); removed when the post is deleted or loses its link.';
COMMENT ON COLUMN unfurl_post_links.post_uri IS 'The post''s AT-URI.';
COMMENT ON COLUMN unfurl_post_links.url IS 'The normalized link (lowercase scheme and host, no fragment, no default port): the key of unfurl_cache.';

CREATE TABLE unfurl_queue (
    url text COLLATE "C" PRIMARY KEY,
    due_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    enqueued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unfurl_queue_due ON unfurl_queue (due_at);

COMMENT ON TABLE unfurl_queue IS 'Links waiting for a preview fetch. Rows are claimed with a lease (due_at pushed forward, FOR UPDATE SKIP LOCKED) so several processes share the queue; a row leaves the queue when its result is cached.';
COMMENT ON COLUMN unfurl_queue.url IS 'The normalized link.';
COMMENT ON COLUMN unfurl_queue.due_at IS 'When the link may be fetched: now for new links, the lease end while a fetch runs, the backoff after a transient failure.';
COMMENT ON COLUMN unfurl_queue.attempts IS 'Transient failures so far; after the last allowed one the failure is cached.';
COMMENT ON COLUMN unfurl_queue.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN unfurl_queue.enqueued_at IS 'When the link was queued.';

CREATE TABLE unfurl_cache (
    url text COLLATE "C" PRIMARY KEY,
    ok boolean NOT NULL,
    title text,
    description text,
    image_url text,
    site_name text,
    kind text,
    provider text,
    source text,
    error text,
    fetched_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT unfurl_cache_negative_has_reason CHECK (ok OR error IS NOT NULL)
);
CREATE INDEX unfurl_cache_expiry ON unfurl_cache (expires_at);

COMMENT ON TABLE unfurl_cache IS 'Fetched link previews and remembered failures, by normalized link. An unexpired row is not fetched again; expired rows are deleted by the cleanup job.';
COMMENT ON COLUMN unfurl_cache.url IS 'The normalized link.';
COMMENT ON COLUMN unfurl_cache.ok IS 'true: a preview; false: a failure (negative entry) with its reason in error.';
COMMENT ON COLUMN unfurl_cache.title IS 'oEmbed title, og:title, twitter:title or <title>.';
COMMENT ON COLUMN unfurl_cache.description IS 'og:description, twitter:description or meta description.';
COMMENT ON COLUMN unfurl_cache.image_url IS 'Absolute http(s) URL of the preview image (og:image, twitter:image, oEmbed thumbnail_url).';
COMMENT ON COLUMN unfurl_cache.site_name IS 'og:site_name or the oEmbed provider_name.';
COMMENT ON COLUMN unfurl_cache.kind IS 'og:type or the oEmbed type (video, rich, photo, link).';
COMMENT ON COLUMN unfurl_cache.provider IS 'Who describes the link: the oEmbed provider_name, else the page''s host.';
COMMENT ON COLUMN unfurl_cache.source IS 'oembed or html (OpenGraph, Twitter card or <title>).';
COMMENT ON COLUMN unfurl_cache.error IS 'Why a negative entry failed (refused_address, timeout, too_large, ...: detail).';
COMMENT ON COLUMN unfurl_cache.fetched_at IS 'When the link was fetched.';
COMMENT ON COLUMN unfurl_cache.expires_at IS 'Until when the row is fresh: fetched_at + UNFURL_CACHE_TTL, or + UNFURL_NEGATIVE_TTL for failures.';
