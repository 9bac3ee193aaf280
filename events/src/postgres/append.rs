//! Appending: one statement for one stream, one transaction of two statements for several,
//! and a statement per stream where a replay or a lost race needs deciding stream by stream.

use std::collections::HashMap;

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::PgEventStore;
use crate::error::StoreError;
use crate::store::{AppendRequest, AppendResult, ExpectedVersion};

/// Retries of an `ExpectedVersion::Any` append that lost a race for a version number.
const ANY_RETRIES: usize = 16;
/// At most this many events in one append.
pub const MAX_EVENTS_PER_APPEND: usize = 10_000;

enum Outcome {
    Done(Vec<AppendResult>),
    /// Lost a race on an event id: the same command was appended concurrently; look again.
    RetryAsReplay,
    /// Lost a race on a version with `ExpectedVersion::Any`.
    RetryAny,
}

impl PgEventStore {
    pub(super) async fn append_requests(
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
            let fast = match requests.as_slice() {
                [one] => self.try_append_fast(one).await?,
                many => self.try_append_batched(many).await?,
            };
            let outcome = match fast {
                Some(outcome) => outcome,
                None => self.try_append(&requests).await?,
            };
            match outcome {
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

    /// One request, one autocommit statement: the transaction id, the version and idempotency
    /// checks and the insert. `None` when the slow path must decide (the event ids exist).
    async fn try_append_fast(&self, req: &AppendRequest) -> Result<Option<Outcome>, StoreError> {
        let cols = EventColumns::of(req)?;
        let (mode, exact) = match req.expected {
            ExpectedVersion::Any => (0i32, 0i64),
            ExpectedVersion::NoStream => (1, 0),
            ExpectedVersion::StreamExists => (2, 0),
            ExpectedVersion::Exact(v) => (3, i64::try_from(v).unwrap_or(i64::MAX)),
        };
        // `x` is materialised before any row reaches the INSERT (every row joins it), so the
        // transaction id exists before the first position is drawn (see the module comment).
        let row: Result<(i64, bool, Option<i64>), sqlx::Error> = sqlx::query_as(
            "WITH x AS MATERIALIZED ( \
               SELECT pg_current_xact_id() AS xid, \
                      (SELECT coalesce(max(stream_version), 0) FROM events \
                        WHERE stream_id = $1) AS current, \
                      EXISTS (SELECT 1 FROM events WHERE event_id = ANY($2)) AS seen), \
             ins AS ( \
               INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata) \
               SELECT e.id, $1, x.current + e.ord, e.t, e.sv, e.p, e.m \
               FROM x, unnest($2::uuid[], $3::text[], $4::int[], $5::jsonb[], $6::jsonb[]) \
                    WITH ORDINALITY AS e(id, t, sv, p, m, ord) \
               WHERE x.xid IS NOT NULL AND NOT x.seen \
                 AND CASE $7::int WHEN 0 THEN true WHEN 1 THEN x.current = 0 \
                                  WHEN 2 THEN x.current > 0 ELSE x.current = $8 END \
               ORDER BY e.ord \
               RETURNING global_position) \
             SELECT x.current, x.seen, (SELECT max(global_position) FROM ins) FROM x",
        )
        .bind(req.stream.as_str())
        .bind(&cols.ids)
        .bind(&cols.types)
        .bind(&cols.versions)
        .bind(&cols.payloads)
        .bind(&cols.metadata)
        .bind(mode)
        .bind(exact)
        .fetch_one(&self.pool)
        .await;
        let (current, seen, last) = match row {
            Ok(row) => row,
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
                return Ok(Some(unique_violation(req, db.constraint(), None)?));
            }
            Err(e) => return Err(e.into()),
        };
        let current = current as u64;
        if seen {
            return Ok(None);
        }
        match last {
            Some(last) => {
                self.announce(last as u64);
                Ok(Some(Outcome::Done(vec![AppendResult {
                    next_expected_version: current + req.events.len() as u64,
                    last_position: last as u64,
                    replayed: false,
                }])))
            }
            None => Err(StoreError::WrongExpectedVersion {
                stream: req.stream.to_string(),
                expected: req.expected,
                actual: current,
            }),
        }
    }

    /// Several requests to distinct streams in one transaction of two statements: the
    /// transaction id, the idempotency check and every stream's version; then one insert of all
    /// the events. `None` when the statement-per-request path must decide: an event id exists
    /// already (a replay), a stream appears twice, or an insert lost a race.
    async fn try_append_batched(
        &self,
        requests: &[AppendRequest],
    ) -> Result<Option<Outcome>, StoreError> {
        let streams: Vec<&str> = requests.iter().map(|r| r.stream.as_str()).collect();
        let mut distinct = streams.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != streams.len() {
            return Ok(None);
        }
        let cols = requests
            .iter()
            .map(EventColumns::of)
            .collect::<Result<Vec<_>, _>>()?;
        let all_ids: Vec<Uuid> = cols.iter().flat_map(|c| c.ids.iter().copied()).collect();
        let mut tx = self.pool.begin().await?;
        // `x` is materialised first, so the transaction id exists before the insert below draws
        // a position (see the module comment).
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "WITH x AS MATERIALIZED ( \
               SELECT pg_current_xact_id() AS xid, \
                      EXISTS (SELECT 1 FROM events WHERE event_id = ANY($2)) AS seen) \
             SELECT coalesce((SELECT max(stream_version) FROM events WHERE stream_id = s.id), 0), \
                    x.seen \
             FROM x, unnest($1::text[]) WITH ORDINALITY AS s(id, ord) \
             WHERE x.xid IS NOT NULL ORDER BY s.ord",
        )
        .bind(&streams)
        .bind(&all_ids)
        .fetch_all(&mut *tx)
        .await?;
        if rows.len() != requests.len() || rows.iter().any(|r| r.1) {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(all_ids.len());
        let mut stream_ids = Vec::with_capacity(all_ids.len());
        let mut versions = Vec::with_capacity(all_ids.len());
        let mut types = Vec::with_capacity(all_ids.len());
        let mut schema_versions = Vec::with_capacity(all_ids.len());
        let mut payloads = Vec::with_capacity(all_ids.len());
        let mut metadata = Vec::with_capacity(all_ids.len());
        for ((req, c), &(current, _)) in requests.iter().zip(&cols).zip(&rows) {
            if !req.expected.check(current as u64) {
                return Err(StoreError::WrongExpectedVersion {
                    stream: req.stream.to_string(),
                    expected: req.expected,
                    actual: current as u64,
                });
            }
            for i in 0..c.ids.len() {
                ids.push(c.ids[i]);
                stream_ids.push(req.stream.as_str());
                versions.push(current + 1 + i as i64);
                types.push(c.types[i]);
                schema_versions.push(c.versions[i]);
                payloads.push(c.payloads[i]);
                metadata.push(&c.metadata[i]);
            }
        }
        let inserted: Result<Vec<(Uuid, i64)>, sqlx::Error> = sqlx::query_as(
            "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata) \
             SELECT e.id, e.s, e.v, e.t, e.sv, e.p, e.m \
             FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[]) \
                  WITH ORDINALITY AS e(id, s, v, t, sv, p, m, ord) \
             ORDER BY e.ord \
             RETURNING event_id, global_position",
        )
        .bind(&ids)
        .bind(&stream_ids)
        .bind(&versions)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&payloads)
        .bind(&metadata)
        .fetch_all(&mut *tx)
        .await;
        let positions: HashMap<Uuid, i64> = match inserted {
            Ok(rows) => rows.into_iter().collect(),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
                tx.rollback().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        let results: Vec<AppendResult> = requests
            .iter()
            .zip(&cols)
            .zip(&rows)
            .map(|((req, c), &(current, _))| AppendResult {
                next_expected_version: current as u64 + req.events.len() as u64,
                last_position: c
                    .ids
                    .iter()
                    .filter_map(|id| positions.get(id))
                    .max()
                    .copied()
                    .unwrap_or(0) as u64,
                replayed: false,
            })
            .collect();
        if let Some(last) = results.iter().map(|r| r.last_position).max() {
            self.announce(last);
        }
        Ok(Some(Outcome::Done(results)))
    }

    async fn try_append(&self, requests: &[AppendRequest]) -> Result<Outcome, StoreError> {
        let mut tx = self.pool.begin().await?;
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
        tx.commit().await?;
        if last_position > 0 {
            self.announce(last_position);
        }
        Ok(Outcome::Done(results))
    }
}

/// An append's events as the column arrays that `unnest` takes apart again.
struct EventColumns<'a> {
    ids: Vec<Uuid>,
    types: Vec<&'a str>,
    versions: Vec<i32>,
    payloads: Vec<&'a serde_json::Value>,
    metadata: Vec<serde_json::Value>,
}

impl<'a> EventColumns<'a> {
    fn of(req: &'a AppendRequest) -> Result<Self, StoreError> {
        let events = &req.events;
        Ok(Self {
            ids: events.iter().map(|e| e.event_id).collect(),
            types: events.iter().map(|e| e.event_type.as_str()).collect(),
            versions: events.iter().map(|e| e.schema_version).collect(),
            payloads: events.iter().map(|e| &e.payload).collect(),
            metadata: events
                .iter()
                .map(|e| serde_json::to_value(&e.metadata))
                .collect::<Result<_, _>>()?,
        })
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
    let cols = EventColumns::of(req)?;
    let ids = &cols.ids;
    // Takes the transaction id before any position is drawn (see the module comment).
    let (current, existing, _): (Option<i64>, i64, bool) = sqlx::query_as(
        "SELECT (SELECT max(stream_version) FROM events WHERE stream_id = $1), \
                (SELECT count(*) FROM events WHERE event_id = ANY($2)), \
                pg_current_xact_id() IS NOT NULL",
    )
    .bind(req.stream.as_str())
    .bind(ids)
    .fetch_one(&mut **tx)
    .await?;
    let current = current.unwrap_or(0) as u64;

    if existing > 0 {
        return replay(tx, req, ids, existing)
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
    .bind(ids)
    .bind(&cols.types)
    .bind(&cols.versions)
    .bind(&cols.payloads)
    .bind(&cols.metadata)
    .fetch_one(&mut **tx)
    .await;
    match inserted {
        Ok((last,)) => Ok(StepOutcome::Appended(AppendResult {
            next_expected_version: current + req.events.len() as u64,
            last_position: last as u64,
            replayed: false,
        })),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
            unique_violation(req, db.constraint(), Some(current)).map(StepOutcome::Retry)
        }
        Err(e) => Err(e.into()),
    }
}

/// An insert lost a race: on an event id (the same command appended concurrently: look again,
/// as a replay) or on a version (`current`: the version this append saw, when it knows it).
fn unique_violation(
    req: &AppendRequest,
    constraint: Option<&str>,
    current: Option<u64>,
) -> Result<Outcome, StoreError> {
    match constraint {
        Some("events_event_id_key") => Ok(Outcome::RetryAsReplay),
        _ if req.expected == ExpectedVersion::Any => Ok(Outcome::RetryAny),
        _ => Err(StoreError::WrongExpectedVersion {
            stream: req.stream.to_string(),
            expected: req.expected,
            // Someone appended concurrently: the stream is past what we saw.
            actual: match (current, req.expected) {
                (Some(c), _) => c + 1,
                (None, ExpectedVersion::Exact(v)) => v + 1,
                (None, _) => 1,
            },
        }),
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
