//! Read model `jobs`: every processing job, its state, attempts and timings. Workers pick work
//! from it (see `lease`); admins list the dead-lettered ones.
//!
//! Leases are not part of the read model: they live in `public.job_leases` (a migration), written
//! only by the job dispatcher, so a rebuild of this projection never forgets who holds what.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::jobs::{JobEvent, JobReason};
use tessera_events::{ContentId, JobId, RecordedEvent};
use uuid::Uuid;

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "jobs";

const SETUP: &str = "
CREATE TABLE jobs (
    job_id        uuid        PRIMARY KEY,
    content_id    uuid        NOT NULL,
    owner         uuid        NOT NULL,
    modality      text        NOT NULL,
    reason        text        NOT NULL,
    status        text        NOT NULL,
    attempts      integer     NOT NULL,
    run_after     timestamptz NOT NULL,
    stage         text,
    percent       smallint    NOT NULL,
    node          text,
    last_code     text,
    last_error    text,
    processing_ms bigint,
    requested_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint      NOT NULL
);
CREATE INDEX jobs_ready ON jobs (run_after) WHERE status IN ('queued', 'running', 'retrying');
CREATE INDEX jobs_content ON jobs (content_id, requested_at DESC);
CREATE INDEX jobs_dead ON jobs (updated_at DESC) WHERE status = 'dead_lettered';
";

/// Projects `job.*` events into `jobs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobsProjection;

#[async_trait]
impl Projection for JobsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn setup_sql(&self) -> &'static str {
        SETUP
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if !event.event_type.starts_with("job.") {
            return Ok(());
        }
        let id = entity_id(event, "job-")?;
        let at = event.recorded_at;
        let version = event.stream_version as i64;
        let q = match decode::<JobEvent>(event)? {
            JobEvent::Requested(r) => sqlx::query(
                "INSERT INTO jobs (job_id, content_id, owner, modality, reason, status, attempts,
                     run_after, percent, requested_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, 0, $6, $6, $7)",
            )
            .bind(id)
            .bind(r.content_id)
            .bind(r.owner)
            .bind(r.modality.as_str())
            .bind(match r.reason {
                JobReason::Upload => "upload",
                JobReason::Reprocess { .. } => "reprocess",
            })
            .bind(at)
            .bind(version),
            JobEvent::Started { attempt, node } => sqlx::query(
                "UPDATE jobs SET status = 'running', attempts = $2, node = $3, stage = NULL,
                     percent = 0, updated_at = $4, version = $5 WHERE job_id = $1",
            )
            .bind(id)
            .bind(attempt as i32)
            .bind(node)
            .bind(at)
            .bind(version),
            JobEvent::Progress { stage, percent, .. } => sqlx::query(
                "UPDATE jobs SET stage = $2, percent = $3, updated_at = $4, version = $5
                 WHERE job_id = $1",
            )
            .bind(id)
            .bind(stage)
            .bind(i16::from(percent))
            .bind(at)
            .bind(version),
            JobEvent::Succeeded { processing_ms, .. } => sqlx::query(
                "UPDATE jobs SET status = 'succeeded', percent = 100, stage = NULL,
                     processing_ms = $2, last_code = NULL, last_error = NULL, updated_at = $3,
                     version = $4 WHERE job_id = $1",
            )
            .bind(id)
            .bind(processing_ms as i64)
            .bind(at)
            .bind(version),
            JobEvent::Failed {
                code,
                reason,
                retry_at,
                ..
            } => sqlx::query(
                "UPDATE jobs SET status = 'retrying', last_code = $2, last_error = $3,
                     run_after = coalesce($4, run_after), updated_at = $5, version = $6
                 WHERE job_id = $1",
            )
            .bind(id)
            .bind(code)
            .bind(reason)
            .bind(retry_at)
            .bind(at)
            .bind(version),
            JobEvent::DeadLettered { code, reason, .. } => sqlx::query(
                "UPDATE jobs SET status = 'dead_lettered', last_code = $2, last_error = $3,
                     updated_at = $4, version = $5 WHERE job_id = $1",
            )
            .bind(id)
            .bind(code)
            .bind(reason)
            .bind(at)
            .bind(version),
        };
        q.execute(conn).await?;
        Ok(())
    }
}

/// A row of `jobs`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct JobRow {
    pub job_id: Uuid,
    pub content_id: Uuid,
    pub owner: Uuid,
    pub modality: String,
    pub reason: String,
    pub status: String,
    pub attempts: i32,
    pub run_after: DateTime<Utc>,
    pub stage: Option<String>,
    pub percent: i16,
    pub node: Option<String>,
    pub last_code: Option<String>,
    pub last_error: Option<String>,
    pub processing_ms: Option<i64>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "job_id, content_id, owner, modality, reason, status, attempts, run_after,
    stage, percent, node, last_code, last_error, processing_ms, requested_at, updated_at, version";

/// One job.
pub async fn get(pool: &PgPool, id: JobId) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rm_jobs.jobs WHERE job_id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The jobs of one item, newest first.
pub async fn for_content(pool: &PgPool, content_id: ContentId) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rm_jobs.jobs WHERE content_id = $1 ORDER BY requested_at DESC"
    ))
    .bind(content_id)
    .fetch_all(pool)
    .await
}

/// Jobs by status (`dead_lettered`, `queued`, ...), most recently changed first.
pub async fn by_status(
    pool: &PgPool,
    status: &str,
    limit: i64,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rm_jobs.jobs WHERE status = $1 ORDER BY updated_at DESC LIMIT $2"
    ))
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A job this node now holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lease {
    pub job_id: JobId,
    pub lease_id: Uuid,
    /// Attempts already started (the read model may lag by the last `job.started`).
    pub attempts: i32,
}

/// Leases up to `limit` jobs that are due and held by no live lease: `FOR UPDATE SKIP LOCKED`
/// lets every node run this at once without two taking the same job. A job whose holder died
/// (its lease expired without a heartbeat) is due again.
pub async fn lease(
    pool: &PgPool,
    node: &str,
    limit: i64,
    ttl: std::time::Duration,
    modalities: &[String],
) -> Result<Vec<Lease>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT j.job_id, j.attempts FROM rm_jobs.jobs j
             WHERE j.status IN ('queued', 'running', 'retrying') AND j.run_after <= now()
               AND j.modality = ANY($4)
               AND NOT EXISTS (SELECT 1 FROM public.job_leases l
                               WHERE l.job_id = j.job_id AND l.expires_at > now())
             ORDER BY j.run_after
             LIMIT $2
             FOR UPDATE OF j SKIP LOCKED)
         INSERT INTO public.job_leases AS l (job_id, lease_id, node, expires_at)
         SELECT job_id, gen_random_uuid(), $1, now() + $3 FROM due
         ON CONFLICT (job_id) DO UPDATE
             SET lease_id = excluded.lease_id, node = excluded.node,
                 expires_at = excluded.expires_at
             WHERE l.expires_at <= now()
         RETURNING l.job_id, l.lease_id,
             (SELECT attempts FROM due WHERE due.job_id = l.job_id) AS attempts",
    )
    .bind(node)
    .bind(limit)
    .bind(ttl)
    .bind(modalities)
    .fetch_all(pool)
    .await
}

/// Extends a lease; false when it was lost (expired and taken by another node).
pub async fn heartbeat(
    pool: &PgPool,
    lease: &Lease,
    ttl: std::time::Duration,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE public.job_leases SET expires_at = now() + $3
         WHERE job_id = $1 AND lease_id = $2",
    )
    .bind(lease.job_id)
    .bind(lease.lease_id)
    .bind(ttl)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives a lease back (the job ended, or this node stops).
pub async fn release(pool: &PgPool, lease: &Lease) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM public.job_leases WHERE job_id = $1 AND lease_id = $2")
        .bind(lease.job_id)
        .bind(lease.lease_id)
        .execute(pool)
        .await?;
    Ok(())
}
