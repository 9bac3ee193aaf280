//! Poison events: an event a projection cannot apply is quarantined as a dead letter, and the
//! projection stalls before it until an administrator retries or skips it. Every other
//! projection keeps running; the decisions live in the log (`projection-<name>` streams, see
//! `tessera_events::projection_ops`), so every node and every rebuild of the same version honours
//! them.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::projection_ops::{self, ProjectionOpsEvent};
use tessera_events::{DomainEvent, EventStore, RecordedEvent, StreamId};

use crate::error::ProjectionError;
use crate::rebuild::to_i64;

/// How a dead letter was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// A later attempt applied it.
    Applied,
    /// An administrator had the projection pass over it.
    Skipped,
}

/// An event a projection could not apply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub projection: String,
    /// The projection version that failed on it.
    pub version: i32,
    pub position: u64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub stream_id: String,
    /// A rebuild met it (the live tables were not stalled by it).
    pub during_rebuild: bool,
    /// The last failure.
    pub error: String,
    pub attempts: u32,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
    /// `None` while the projection waits for a decision about it.
    pub resolution: Option<Resolution>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl DeadLetter {
    /// Still blocking its projection.
    pub fn is_open(&self) -> bool {
        self.resolution.is_none()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    projection: String,
    version: i32,
    position: i64,
    event_id: uuid::Uuid,
    event_type: String,
    stream_id: String,
    during_rebuild: bool,
    error: String,
    attempts: i32,
    first_failed_at: DateTime<Utc>,
    last_failed_at: DateTime<Utc>,
    resolution: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
}

impl From<Row> for DeadLetter {
    fn from(r: Row) -> Self {
        DeadLetter {
            projection: r.projection,
            version: r.version,
            position: crate::lease::to_u64(r.position),
            event_id: r.event_id,
            event_type: r.event_type,
            stream_id: r.stream_id,
            during_rebuild: r.during_rebuild,
            error: r.error,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            first_failed_at: r.first_failed_at,
            last_failed_at: r.last_failed_at,
            resolution: match r.resolution.as_deref() {
                Some("applied") => Some(Resolution::Applied),
                Some(_) => Some(Resolution::Skipped),
                None => None,
            },
            resolved_at: r.resolved_at,
        }
    }
}

const COLUMNS: &str = "projection, version, position, event_id, event_type, stream_id, \
    during_rebuild, error, attempts, first_failed_at, last_failed_at, resolution, resolved_at";

fn db_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> ProjectionError {
    ProjectionError::runtime("*", context)
}

/// Quarantines `event` (or counts one more failure of it); returns how often it failed.
pub(crate) async fn record(
    pool: &PgPool,
    projection: &str,
    version: i32,
    event: &RecordedEvent,
    during_rebuild: bool,
    error: &str,
) -> Result<u32, ProjectionError> {
    let attempts: i32 = sqlx::query_scalar(
        "INSERT INTO public.projection_dead_letters \
           (projection, version, position, event_id, event_type, stream_id, during_rebuild, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (projection, version, position) DO UPDATE SET \
           attempts = projection_dead_letters.attempts + 1, error = EXCLUDED.error, \
           during_rebuild = EXCLUDED.during_rebuild, last_failed_at = now(), \
           resolution = NULL, resolved_at = NULL \
         RETURNING attempts",
    )
    .bind(projection)
    .bind(version)
    .bind(to_i64(event.global_position))
    .bind(event.event_id)
    .bind(&event.event_type)
    .bind(&event.stream_id)
    .bind(during_rebuild)
    .bind(error)
    .fetch_one(pool)
    .await
    .map_err(db_err("record dead letter"))?;
    Ok(u32::try_from(attempts).unwrap_or(0))
}

/// Marks the open dead letters in `(from, to]` resolved, inside the transaction that committed
/// that range: skipped where `skipped` says so, applied otherwise.
pub(crate) async fn resolve_range(
    conn: &mut PgConnection,
    projection: &str,
    version: i32,
    from: u64,
    to: u64,
    skipped: &Decisions,
) -> Result<(), sqlx::Error> {
    let skipped: Vec<i64> = skipped
        .skipped
        .iter()
        .filter(|p| (from + 1..=to).contains(*p))
        .map(|p| to_i64(*p))
        .collect();
    sqlx::query(
        "UPDATE public.projection_dead_letters SET resolved_at = now(), \
           resolution = CASE WHEN position = ANY($5) THEN 'skipped' ELSE 'applied' END \
         WHERE projection = $1 AND version = $2 AND resolution IS NULL \
           AND position > $3 AND position <= $4",
    )
    .bind(projection)
    .bind(version)
    .bind(to_i64(from))
    .bind(to_i64(to))
    .bind(&skipped)
    .execute(conn)
    .await?;
    Ok(())
}

/// One dead letter.
pub async fn find(
    pool: &PgPool,
    projection: &str,
    version: i32,
    position: u64,
) -> Result<Option<DeadLetter>, ProjectionError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM projection_dead_letters \
         WHERE projection = $1 AND version = $2 AND position = $3"
    ))
    .bind(projection)
    .bind(version)
    .bind(to_i64(position))
    .fetch_optional(pool)
    .await
    .map_err(db_err("read dead letter"))?;
    Ok(row.map(DeadLetter::from))
}

/// The open dead letters of `projections`, and the `recent` last resolved ones of each, newest
/// first.
pub async fn dead_letters(
    pool: &PgPool,
    projections: &[&str],
    recent: i64,
) -> Result<Vec<DeadLetter>, ProjectionError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM ( \
           SELECT *, row_number() OVER (PARTITION BY projection \
                                        ORDER BY resolved_at DESC NULLS FIRST) AS n \
           FROM projection_dead_letters WHERE projection = ANY($1)) d \
         WHERE resolution IS NULL OR n <= $2 \
         ORDER BY projection, resolution NULLS FIRST, last_failed_at DESC"
    ))
    .bind(projections)
    .bind(recent)
    .fetch_all(pool)
    .await
    .map_err(db_err("list dead letters"))?;
    Ok(rows.into_iter().map(DeadLetter::from).collect())
}

/// The projections stalled on an open dead letter, each with its lowest such position. A
/// dead letter a rebuild of the live version met does not stall anything: the live tables keep
/// following (the rebuild stops, and an admin decides and rebuilds again); one met by the live
/// projector, or by a rebuild to a new version (which the projector itself waits on), does.
pub async fn stalled(pool: &PgPool) -> Result<Vec<(String, u64)>, ProjectionError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.projection, min(d.position) FROM projection_dead_letters d \
         LEFT JOIN projection_checkpoints c ON c.name = d.projection \
         WHERE d.resolution IS NULL \
           AND (NOT d.during_rebuild OR d.version IS DISTINCT FROM c.version) \
         GROUP BY d.projection ORDER BY d.projection",
    )
    .fetch_all(pool)
    .await
    .map_err(db_err("list stalled projections"))?;
    Ok(rows
        .into_iter()
        .map(|(name, p)| (name, crate::lease::to_u64(p)))
        .collect())
}

impl DeadLetter {
    /// Whether it holds its projection back, given the version of the live tables (see
    /// [`stalled`]).
    pub fn stalls(&self, live_version: i32) -> bool {
        self.is_open() && (!self.during_rebuild || self.version != live_version)
    }
}

/// The administrators' decisions about one projection version, read from its stream and kept
/// up to date by [`Decisions::refresh`].
pub(crate) struct Decisions {
    stream: StreamId,
    version: i32,
    seen: u64,
    skipped: HashSet<u64>,
}

impl Decisions {
    /// Every decision so far.
    pub async fn load(
        store: &dyn EventStore,
        projection: &str,
        version: i32,
    ) -> Result<Self, ProjectionError> {
        let mut decisions = Decisions {
            stream: projection_ops::stream(projection),
            version,
            seen: 0,
            skipped: HashSet::new(),
        };
        decisions.refresh(store).await?;
        Ok(decisions)
    }

    /// Reads the decisions recorded since the last read; returns those about this version.
    pub async fn refresh(
        &mut self,
        store: &dyn EventStore,
    ) -> Result<Vec<ProjectionOpsEvent>, ProjectionError> {
        let mut new = Vec::new();
        loop {
            let batch = store.read_stream(&self.stream, self.seen, 500).await?;
            let Some(last) = batch.last().map(|e| e.stream_version) else {
                return Ok(new);
            };
            let full = batch.len() == 500;
            for recorded in &batch {
                let event = ProjectionOpsEvent::decode(recorded)?;
                if event.version() != self.version {
                    continue;
                }
                if let ProjectionOpsEvent::EventSkipped { position, .. } = &event {
                    self.skipped.insert(*position);
                }
                new.push(event);
            }
            self.seen = last;
            if !full {
                return Ok(new);
            }
        }
    }

    /// Whether the projection passes over the event at `position`.
    pub fn is_skipped(&self, position: u64) -> bool {
        self.skipped.contains(&position)
    }
}
