//! Replaying the log into a schema of one's own, without a checkpoint row: how a rebuild fills
//! its shadow schema, and how tests build a from-zero reference to compare against.

use sqlx::PgPool;
use tessera_events::{EventStore, RecordedEvent};

use crate::error::ProjectionError;
use crate::names::quote_ident;
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
}

impl<'a> Replayer<'a> {
    pub fn new(
        pool: &'a PgPool,
        store: &'a dyn EventStore,
        projection: &'a dyn Projection,
        schema: &'a str,
        batch_size: usize,
    ) -> Self {
        Self {
            pool,
            store,
            projection,
            schema,
            batch_size: batch_size.max(1),
            position: 0,
            applied: 0,
        }
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
        self.apply(&batch).await?;
        self.position = last;
        self.applied += batch.len() as u64;
        Ok(batch.len())
    }

    async fn apply(&self, batch: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(ProjectionError::runtime(name, "begin replay batch"))?;
        set_local_search_path(&mut tx, self.schema)
            .await
            .map_err(ProjectionError::runtime(name, "set search_path"))?;
        apply_batch(self.projection, &mut tx, batch).await?;
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
    let mut replayer = Replayer::new(pool, store, projection, schema, batch_size);
    while replayer.step(up_to).await? > 0 {}
    Ok(replayer.position())
}
