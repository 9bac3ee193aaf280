//! Replaying the log into a schema of one's own, without a checkpoint row: how a rebuild fills
//! its shadow schema, and how tests build a from-zero reference to compare against.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use sqlx::PgPool;
use tessera_events::{EventStore, RecordedEvent};

use crate::error::ProjectionError;
use crate::names::quote_ident;
use crate::poison::{self, Decisions};
use crate::projection::Projection;
use crate::schema::{create_schema, set_local_search_path};

/// Applies the log, batch by batch, to the tables in `schema`. The position lives only in
/// memory: a replay that stops half way is thrown away and started again.
pub(crate) struct Replayer<'a> {
    pool: &'a PgPool,
    store: &'a dyn EventStore,
    projection: &'a dyn Projection,
    schema: &'a str,
    batch_size: usize,
    position: u64,
    applied: u64,
    /// The events an administrator had this projection version skip.
    decisions: Decisions,
    /// Whether an event that cannot be applied is quarantined (a rebuild) or only reported.
    quarantine: bool,
}

impl<'a> Replayer<'a> {
    pub async fn new(
        pool: &'a PgPool,
        store: &'a dyn EventStore,
        projection: &'a dyn Projection,
        schema: &'a str,
        batch_size: usize,
        quarantine: bool,
    ) -> Result<Self, ProjectionError> {
        let decisions = Decisions::load(store, projection.name(), projection.version()).await?;
        Ok(Self {
            pool,
            store,
            projection,
            schema,
            batch_size: batch_size.max(1),
            position: 0,
            applied: 0,
            decisions,
            quarantine,
        })
    }

    /// The position of the last event applied.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// How many events were applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Applies the next batch (events up to `up_to` when given); returns how many it applied,
    /// 0 when the log has nothing more right now.
    pub async fn step(&mut self, up_to: Option<u64>) -> Result<usize, ProjectionError> {
        let limit = match up_to {
            Some(end) if end <= self.position => return Ok(0),
            Some(end) => usize::try_from(end - self.position)
                .unwrap_or(usize::MAX)
                .min(self.batch_size),
            None => self.batch_size,
        };
        let mut batch = self.store.read_all(self.position, limit).await?;
        if let Some(end) = up_to {
            batch.retain(|e| e.global_position <= end);
        }
        let Some(last) = batch.last().map(|e| e.global_position) else {
            return Ok(0);
        };
        match self.apply(&batch).await {
            Ok(()) => {}
            Err(e) if e.is_poison() && self.quarantine => return self.isolate(&batch, e).await,
            Err(e) => return Err(e),
        }
        self.position = last;
        self.applied += batch.len() as u64;
        Ok(batch.len())
    }

    /// After `batch` failed as a whole: applies its events one at a time up to the one at
    /// fault, quarantines that one and fails with `Poisoned`.
    async fn isolate(
        &mut self,
        batch: &[RecordedEvent],
        batch_error: ProjectionError,
    ) -> Result<usize, ProjectionError> {
        for event in batch {
            if let Err(error) = self.apply(std::slice::from_ref(event)).await {
                if !error.is_poison() {
                    return Err(error);
                }
                let name = self.projection.name();
                let attempts = poison::record(
                    self.pool,
                    name,
                    self.projection.version(),
                    event,
                    true,
                    &error.to_string(),
                )
                .await?;
                tracing::error!(
                    alert = "projection_stalled",
                    projection = name,
                    position = event.global_position,
                    event_type = %event.event_type,
                    stream = %event.stream_id,
                    attempts,
                    %error,
                    "rebuild cannot apply an event: quarantined until an administrator retries or skips it"
                );
                return Err(ProjectionError::Poisoned {
                    projection: name,
                    position: event.global_position,
                    event_type: event.event_type.clone(),
                });
            }
            self.position = event.global_position;
            self.applied += 1;
        }
        // Every event applied on its own: the batch failed only as a whole.
        tracing::warn!(projection = self.projection.name(), error = %batch_error, "a batch failed as a whole and applied event by event");
        Ok(batch.len())
    }

    async fn apply(&self, batch: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(ProjectionError::runtime(name, "begin replay batch"))?;
        if self.quarantine {
            let (from, to) = range_of(batch);
            poison::resolve_range(
                &mut tx,
                name,
                self.projection.version(),
                from,
                to,
                &self.decisions,
            )
            .await
            .map_err(ProjectionError::runtime(name, "resolve dead letters"))?;
        }
        set_local_search_path(&mut tx, self.schema)
            .await
            .map_err(ProjectionError::runtime(name, "set search_path"))?;
        apply_guarded(self.projection, &mut tx, batch, &self.decisions).await?;
        tx.commit()
            .await
            .map_err(ProjectionError::runtime(name, "commit replay batch"))
    }
}

/// Applies a batch; a failure always names the projection and an event position.
pub(crate) async fn apply_batch(
    projection: &dyn Projection,
    conn: &mut sqlx::PgConnection,
    batch: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    match projection.apply_batch(conn, batch).await {
        Ok(()) => Ok(()),
        Err(e @ ProjectionError::Apply { .. }) => Err(e),
        Err(source) => Err(ProjectionError::Apply {
            projection: projection.name(),
            position: batch.first().map_or(0, |e| e.global_position),
            event_type: batch
                .first()
                .map_or_else(String::new, |e| e.event_type.clone()),
            source: Box::new(source),
        }),
    }
}

/// The positions `(from, to]` a non-empty batch covers.
pub(crate) fn range_of(batch: &[RecordedEvent]) -> (u64, u64) {
    let first = batch.first().map_or(0, |e| e.global_position);
    let last = batch.last().map_or(0, |e| e.global_position);
    (first.saturating_sub(1), last)
}

/// Applies `batch` less the events an administrator had skipped. A panic in the projection's
/// code becomes an error naming the batch's first event, so it is quarantined like any other
/// event the projection cannot apply, rather than restarting the projector forever.
pub(crate) async fn apply_guarded(
    projection: &dyn Projection,
    conn: &mut sqlx::PgConnection,
    batch: &[RecordedEvent],
    decisions: &Decisions,
) -> Result<(), ProjectionError> {
    let events: Cow<'_, [RecordedEvent]> = if batch
        .iter()
        .any(|e| decisions.is_skipped(e.global_position))
    {
        Cow::Owned(
            batch
                .iter()
                .filter(|e| !decisions.is_skipped(e.global_position))
                .cloned()
                .collect(),
        )
    } else {
        Cow::Borrowed(batch)
    };
    let Some(first) = events.first() else {
        return Ok(());
    };
    match AssertUnwindSafe(apply_batch(projection, conn, &events))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(payload) => Err(ProjectionError::Apply {
            projection: projection.name(),
            position: first.global_position,
            event_type: first.event_type.clone(),
            source: Box::new(ProjectionError::Panicked(panic_text(payload.as_ref()))),
        }),
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Drops `schema` if it exists and creates it afresh with the projection's tables.
pub(crate) async fn recreate_schema(
    pool: &PgPool,
    projection: &dyn Projection,
    schema: &str,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let mut tx = pool
        .begin()
        .await
        .map_err(ProjectionError::runtime(name, "begin schema setup"))?;
    sqlx::query(&format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        quote_ident(schema)
    ))
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::runtime(name, "drop stale schema"))?;
    create_schema(&mut tx, projection, schema).await?;
    tx.commit()
        .await
        .map_err(ProjectionError::runtime(name, "commit schema setup"))
}

/// Replays the log from position 0 into a NEW schema `schema` (which must not exist yet), up
/// to position `up_to` (or as far as the log goes now). Returns the last position applied.
///
/// For comparing a from-zero replay with live tables (see `snapshot_schema`); takes no lease
/// and writes no checkpoint.
pub async fn replay_into(
    pool: &PgPool,
    store: &dyn EventStore,
    projection: &dyn Projection,
    schema: &str,
    up_to: Option<u64>,
    batch_size: usize,
) -> Result<u64, ProjectionError> {
    let name = projection.name();
    let mut tx = pool
        .begin()
        .await
        .map_err(ProjectionError::runtime(name, "begin schema setup"))?;
    // CREATE SCHEMA fails on an existing schema: this function never drops anything.
    create_schema(&mut tx, projection, schema).await?;
    tx.commit()
        .await
        .map_err(ProjectionError::runtime(name, "commit schema setup"))?;
    let mut replayer = Replayer::new(pool, store, projection, schema, batch_size, false).await?;
    while replayer.step(up_to).await? > 0 {}
    Ok(replayer.position())
}
