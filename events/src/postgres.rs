//! The event store on PostgreSQL.
//!
//! Positions come from a sequence, and concurrent transactions can commit out of sequence order.
//! Two rules keep readers from skipping events (guarantee 4):
//! - an append takes its transaction id (`pg_current_xact_id()`) before it draws positions, so any
//!   transaction that holds an uncommitted position is visible in every later snapshot's in-progress
//!   range;
//! - `read_all` only returns a contiguous run of positions. At a hole it waits until every
//!   transaction that was running when the hole was seen has ended; a hole that is still there is a
//!   rolled-back append and can be passed. A transaction that draws a position has its id already,
//!   so it is either in that snapshot's in-progress list or committed before it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::error::StoreError;
use crate::event::{Metadata, RecordedEvent, StreamId};
use crate::store::{AppendRequest, AppendResult, EventStore, ExpectedVersion};
use crate::upcast::Upcasters;
use crate::NOTIFY_CHANNEL;

/// How long `read_all` waits for in-flight appends below a hole before returning what it has.
const HOLE_WAIT: Duration = Duration::from_millis(200);
/// Retries of an `ExpectedVersion::Any` append that lost a race for a version number.
const ANY_RETRIES: usize = 16;
/// At most this many events in one append.
pub const MAX_EVENTS_PER_APPEND: usize = 10_000;

/// The PostgreSQL event store. Cheap to clone.
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    upcasters: Arc<Upcasters>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    global_position: i64,
    event_id: Uuid,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    schema_version: i32,
    payload: serde_json::Value,
    metadata: serde_json::Value,
    recorded_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    snap: String,
    global_position: Option<i64>,
    event_id: Option<Uuid>,
    stream_id: Option<String>,
    stream_version: Option<i64>,
    event_type: Option<String>,
    schema_version: Option<i32>,
    payload: Option<serde_json::Value>,
    metadata: Option<serde_json::Value>,
    recorded_at: Option<DateTime<Utc>>,
}

impl SnapshotRow {
    fn into_event(self) -> Option<EventRow> {
        Some(EventRow {
            global_position: self.global_position?,
            event_id: self.event_id?,
            stream_id: self.stream_id?,
            stream_version: self.stream_version?,
            event_type: self.event_type?,
            schema_version: self.schema_version?,
            payload: self.payload?,
            metadata: self.metadata?,
            recorded_at: self.recorded_at?,
        })
    }
}

enum Outcome {
    Done(Vec<AppendResult>),
    /// Lost a race on an event id: the same command was appended concurrently; look again.
    RetryAsReplay,
    /// Lost a race on a version with `ExpectedVersion::Any`.
    RetryAny,
}

const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
                       schema_version, payload, metadata, recorded_at";

impl PgEventStore {
    pub fn new(pool: PgPool) -> Self {
        Self::with_upcasters(pool, Upcasters::default())
    }

    pub fn with_upcasters(pool: PgPool, upcasters: Upcasters) -> Self {
        Self {
            pool,
            upcasters: Arc::new(upcasters),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn to_recorded(&self, row: EventRow) -> Result<RecordedEvent, StoreError> {
        let (schema_version, payload) =
            self.upcasters
                .upcast(&row.event_type, row.schema_version, row.payload)?;
        let metadata: Metadata = serde_json::from_value(row.metadata).unwrap_or_default();
        Ok(RecordedEvent {
            global_position: row.global_position as u64,
            event_id: row.event_id,
            stream_id: row.stream_id,
            stream_version: row.stream_version as u64,
            event_type: row.event_type,
            schema_version,
            payload,
            metadata,
            recorded_at: row.recorded_at,
        })
    }

    async fn try_append(&self, requests: &[AppendRequest]) -> Result<Outcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Take the transaction id before any position is drawn (see the module comment).
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *tx)
            .await?;
        let mut results = Vec::with_capacity(requests.len());
        let mut last_position = 0u64;
        for req in requests {
            match append_one(&mut tx, req).await? {
                StepOutcome::Appended(r) => {
                    last_position = last_position.max(r.last_position);
                    results.push(r);
                }
                StepOutcome::Replayed(r) => results.push(r),
                StepOutcome::Retry(o) => {
                    tx.rollback().await?;
                    return Ok(o);
                }
            }
        }
        if last_position > 0 {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(NOTIFY_CHANNEL)
                .bind(last_position.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Outcome::Done(results))
    }

    /// The version of a stream (0 when it has no events).
    pub async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT max(stream_version) FROM events WHERE stream_id = $1")
                .bind(stream.as_str())
                .fetch_one(&self.pool)
                .await?;
        Ok(v.unwrap_or(0) as u64)
    }

    async fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(String, Vec<EventRow>), StoreError> {
        // One statement, so the snapshot and the rows agree.
        let sql = format!(
            "SELECT s.snap, e.* FROM (SELECT pg_current_snapshot()::text AS snap) s \
             LEFT JOIN LATERAL \
               (SELECT {COLUMNS} FROM events WHERE global_position > $1 \
                ORDER BY global_position LIMIT $2) e ON true"
        );
        let rows: Vec<SnapshotRow> = sqlx::query_as(&sql)
            .bind(after as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let snap = rows.first().map(|r| r.snap.clone()).unwrap_or_default();
        Ok((
            snap,
            rows.into_iter()
                .filter_map(SnapshotRow::into_event)
                .collect(),
        ))
    }

    /// Waits until every transaction of this database that was running in `snapshot` has ended;
    /// false on timeout. Transactions seen running in other databases of the cluster cannot have
    /// appended here and are not waited for.
    async fn wait_for_snapshot_transactions(&self, snapshot: &str) -> Result<bool, StoreError> {
        let deadline = tokio::time::Instant::now() + HOLE_WAIT;
        let mut pause = Duration::from_micros(500);
        loop {
            let running: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_snapshot_xip($1::pg_snapshot) AS x \
                 WHERE pg_xact_status(x) = 'in progress' \
                   AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a \
                       WHERE a.backend_xid IS NOT NULL \
                         AND a.backend_xid::text::bigint = x::text::bigint % 4294967296 \
                         AND a.datname IS DISTINCT FROM current_database())",
            )
            .bind(snapshot)
            .fetch_one(&self.pool)
            .await?;
            if running == 0 {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

enum StepOutcome {
    Appended(AppendResult),
    Replayed(AppendResult),
    Retry(Outcome),
}

fn validate(req: &AppendRequest) -> Result<(), StoreError> {
    if req.events.is_empty() {
        return Err(StoreError::Invalid(format!("no events for {}", req.stream)));
    }
    if req.events.len() > MAX_EVENTS_PER_APPEND {
        return Err(StoreError::Invalid(format!(
            "{} events in one append (at most {MAX_EVENTS_PER_APPEND})",
            req.events.len()
        )));
    }
    let mut ids: Vec<Uuid> = req.events.iter().map(|e| e.event_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != req.events.len() {
        return Err(StoreError::Invalid(
            "duplicate event ids in one append".into(),
        ));
    }
    if let Some(e) = req
        .events
        .iter()
        .find(|e| e.event_type.is_empty() || e.event_type.len() > 128 || e.schema_version < 1)
    {
        return Err(StoreError::Invalid(format!(
            "bad event type {:?}",
            e.event_type
        )));
    }
    Ok(())
}

async fn append_one(
    tx: &mut Transaction<'_, Postgres>,
    req: &AppendRequest,
) -> Result<StepOutcome, StoreError> {
    let ids: Vec<Uuid> = req.events.iter().map(|e| e.event_id).collect();
    let (current, existing): (Option<i64>, i64) = sqlx::query_as(
        "SELECT (SELECT max(stream_version) FROM events WHERE stream_id = $1), \
                (SELECT count(*) FROM events WHERE event_id = ANY($2))",
    )
    .bind(req.stream.as_str())
    .bind(&ids)
    .fetch_one(&mut **tx)
    .await?;
    let current = current.unwrap_or(0) as u64;

    if existing > 0 {
        return replay(tx, req, &ids, existing)
            .await
            .map(StepOutcome::Replayed);
    }
    if !req.expected.check(current) {
        return Err(StoreError::WrongExpectedVersion {
            stream: req.stream.to_string(),
            expected: req.expected,
            actual: current,
        });
    }

    let types: Vec<&str> = req.events.iter().map(|e| e.event_type.as_str()).collect();
    let versions: Vec<i32> = req.events.iter().map(|e| e.schema_version).collect();
    let payloads: Vec<&serde_json::Value> = req.events.iter().map(|e| &e.payload).collect();
    let metadata = req
        .events
        .iter()
        .map(|e| serde_json::to_value(&e.metadata))
        .collect::<Result<Vec<_>, _>>()?;
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "WITH ins AS ( \
           INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata) \
           SELECT e.id, $1, $2 + e.ord, e.t, e.sv, e.p, e.m \
           FROM unnest($3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[]) \
                WITH ORDINALITY AS e(id, t, sv, p, m, ord) \
           ORDER BY e.ord \
           RETURNING global_position) \
         SELECT max(global_position) FROM ins",
    )
    .bind(req.stream.as_str())
    .bind(current as i64)
    .bind(&ids)
    .bind(&types)
    .bind(&versions)
    .bind(&payloads)
    .bind(&metadata)
    .fetch_one(&mut **tx)
    .await;
    match inserted {
        Ok((last,)) => Ok(StepOutcome::Appended(AppendResult {
            next_expected_version: current + req.events.len() as u64,
            last_position: last as u64,
            replayed: false,
        })),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
            match db.constraint() {
                Some("events_event_id_key") => Ok(StepOutcome::Retry(Outcome::RetryAsReplay)),
                _ if req.expected == ExpectedVersion::Any => {
                    Ok(StepOutcome::Retry(Outcome::RetryAny))
                }
                _ => Err(StoreError::WrongExpectedVersion {
                    stream: req.stream.to_string(),
                    expected: req.expected,
                    // Someone appended concurrently: the stream is past what we saw.
                    actual: current + 1,
                }),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The events were appended before: return the first append's result, or refuse a partial match.
async fn replay(
    tx: &mut Transaction<'_, Postgres>,
    req: &AppendRequest,
    ids: &[Uuid],
    existing: i64,
) -> Result<AppendResult, StoreError> {
    let conflict = || StoreError::IdempotencyConflict {
        stream: req.stream.to_string(),
    };
    if existing as usize != ids.len() {
        return Err(conflict());
    }
    let rows: Vec<(Uuid, String, i64, i64, String)> = sqlx::query_as(
        "SELECT event_id, stream_id, stream_version, global_position, event_type \
         FROM events WHERE event_id = ANY($1) ORDER BY stream_version",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    let same = rows.len() == ids.len()
        && rows
            .iter()
            .zip(&req.events)
            .all(|(r, e)| r.0 == e.event_id && r.1 == req.stream.as_str() && r.4 == e.event_type);
    let contiguous = rows.windows(2).all(|w| w[1].2 == w[0].2 + 1);
    if !same || !contiguous {
        return Err(conflict());
    }
    let last = rows.last().ok_or_else(conflict)?;
    Ok(AppendResult {
        next_expected_version: last.2 as u64,
        last_position: rows.iter().map(|r| r.3).max().unwrap_or(0) as u64,
        replayed: true,
    })
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn append_many(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        if requests.is_empty() {
            return Err(StoreError::Invalid("nothing to append".into()));
        }
        for r in &requests {
            validate(r)?;
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_append(&requests).await? {
                Outcome::Done(results) => return Ok(results),
                Outcome::RetryAsReplay | Outcome::RetryAny if attempts < ANY_RETRIES => continue,
                Outcome::RetryAsReplay | Outcome::RetryAny => {
                    return Err(StoreError::Invalid(format!(
                        "append did not settle after {attempts} attempts"
                    )))
                }
            }
        }
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 \
             ORDER BY stream_version LIMIT $3"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(stream.as_str())
            .bind(after_version as i64)
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(|r| self.to_recorded(r)).collect()
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.clamp(1, 100_000);
        let (snapshot, rows) = self.read_after(after, limit).await?;
        let run = contiguous_run(after, &rows);
        if run > 0 || rows.is_empty() {
            return rows
                .into_iter()
                .take(run)
                .map(|r| self.to_recorded(r))
                .collect();
        }
        // A hole right after `after`: its transaction may still commit. Wait for every
        // transaction that was running when we looked to end, then what is visible below the
        // first event we saw is final.
        let first_seen = rows[0].global_position;
        if !self.wait_for_snapshot_transactions(&snapshot).await? {
            return Ok(Vec::new());
        }
        let (_, rows) = self.read_after(after, limit).await?;
        let settled = rows
            .iter()
            .take_while(|r| r.global_position <= first_seen)
            .count();
        let rest = match rows.get(settled.saturating_sub(1)) {
            Some(last) => contiguous_run(last.global_position as u64, &rows[settled..]),
            None => 0,
        };
        rows.into_iter()
            .take(settled + rest)
            .map(|r| self.to_recorded(r))
            .collect()
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT max(global_position) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0) as u64)
    }
}

/// How many rows, from the start, follow `after` with no hole.
fn contiguous_run(after: u64, rows: &[EventRow]) -> usize {
    rows.iter()
        .zip(after as i64 + 1..)
        .take_while(|(r, expected)| r.global_position == *expected)
        .count()
}
