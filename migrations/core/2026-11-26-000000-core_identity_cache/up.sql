-- The identity resolver's persisted cache: verified answers survive a restart, and every
-- process of a deployment shares them. Rows past expires_at are ignored by lookups and
-- overwritten by the next network resolution.
CREATE TABLE identity_did_documents (
    did text COLLATE "C" PRIMARY KEY,
    document jsonb NOT NULL,
    resolved_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX identity_did_documents_expires_at ON identity_did_documents (expires_at);

COMMENT ON TABLE identity_did_documents IS 'Cached DID documents (did:plc from the PLC directory, did:web from /.well-known/did.json).';
COMMENT ON COLUMN identity_did_documents.did IS 'The resolved DID; equal to the document''s id.';
COMMENT ON COLUMN identity_did_documents.document IS 'The DID document as the network returned it, re-read on every load so parsing rules may change.';
COMMENT ON COLUMN identity_did_documents.resolved_at IS 'When the document was fetched from the network.';
COMMENT ON COLUMN identity_did_documents.expires_at IS 'After this the row is stale: lookups go to the network and overwrite it.';

CREATE TABLE identity_handles (
    handle text COLLATE "C" PRIMARY KEY,
    did text COLLATE "C" NOT NULL,
    resolved_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX identity_handles_did ON identity_handles (did);
CREATE INDEX identity_handles_expires_at ON identity_handles (expires_at);

COMMENT ON TABLE identity_handles IS 'Handle resolutions verified both ways: the handle points at the DID and the DID document claims the handle.';
COMMENT ON COLUMN identity_handles.handle IS 'The handle, lowercase.';
COMMENT ON COLUMN identity_handles.did IS 'The DID the handle resolved to (rows are dropped when that DID''s identity changes).';
COMMENT ON COLUMN identity_handles.resolved_at IS 'When the resolution and its bidirectional check were done.';
COMMENT ON COLUMN identity_handles.expires_at IS 'After this the row is stale: lookups go to the network and overwrite it.';
