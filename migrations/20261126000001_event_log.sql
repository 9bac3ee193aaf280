-- The event log: one append-only table. Only the event store writes it.
CREATE SEQUENCE events_global_position_seq AS bigint START 1 CACHE 1 NO CYCLE;

CREATE TABLE events (
    global_position bigint      NOT NULL DEFAULT nextval('events_global_position_seq') PRIMARY KEY,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 256),
    stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
    event_type      text        NOT NULL CHECK (length(event_type) BETWEEN 1 AND 128),
    schema_version  integer     NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    -- Optimistic concurrency lives here, so it holds even for code that bypasses the store.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
ALTER SEQUENCE events_global_position_seq OWNED BY events.global_position;

-- Append-only, whoever the caller is (owners and superusers included).
CREATE FUNCTION events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;

-- Projection checkpoints: written in the same transaction as the read model they describe.
-- `epoch` fences a projector that lost its lease: its writes carry the old epoch and match nothing.
CREATE TABLE projection_checkpoints (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL DEFAULT 0,
    epoch       bigint      NOT NULL DEFAULT 0,
    version     integer     NOT NULL DEFAULT 0,
    schema_name text        NOT NULL,
    owner_node  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
