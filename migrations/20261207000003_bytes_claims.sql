-- Bytes an upload is about to store and refer to: from just before the blob is written until
-- its event is appended. Deleting bytes (a purge, the collector) takes an exclusive advisory lock
-- on them, which a claim's insert shares, and deletes nothing that is claimed.
CREATE TABLE bytes_claims (
    claim UUID PRIMARY KEY,
    sha256 TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX bytes_claims_sha256 ON bytes_claims (sha256);
