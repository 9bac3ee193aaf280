-- Who is working on which processing job. Written only by the job dispatcher; the jobs read
-- model (rm_jobs) says what is due, this table says who holds it and until when.
CREATE TABLE job_leases (
    job_id     uuid        PRIMARY KEY,
    lease_id   uuid        NOT NULL,
    node       text        NOT NULL,
    expires_at timestamptz NOT NULL
);
