-- Uploads of given bytes past a position: finding an owner's earlier upload of the same file,
-- and whether any item still needs bytes about to be deleted, read the log past the content
-- projection's checkpoint. Indexed, that read stays short however far the projection lags.
CREATE INDEX events_uploads_by_sha ON events ((payload->>'sha256'), global_position)
    WHERE event_type = 'content.uploaded';
