DROP TABLE identity_handles;
DROP TABLE identity_did_documents;
