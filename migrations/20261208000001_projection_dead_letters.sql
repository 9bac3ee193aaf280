-- Events a projection could not apply. The projector stalls before such an event instead of
-- restarting forever; an administrator retries or skips it (a `projection.*` event in stream
-- `projection-<name>`), and the row records how it was resolved. Kept per projection version:
-- a new version replays the log and decides afresh.
CREATE TABLE projection_dead_letters (
    projection      text        NOT NULL,
    version         integer     NOT NULL,
    position        bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    stream_id       text        NOT NULL,
    -- Whether a rebuild (into a shadow schema) or the live projector met it.
    during_rebuild  boolean     NOT NULL,
    error           text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 1,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    -- NULL while the projection is stalled on it.
    resolution      text        CHECK (resolution IN ('applied', 'skipped')),
    resolved_at     timestamptz,
    PRIMARY KEY (projection, version, position)
);
CREATE INDEX projection_dead_letters_open ON projection_dead_letters (projection)
    WHERE resolution IS NULL;
