//! Rebuilding a projection from position 0 without downtime (guarantee 7).
//!
//! 1. Take the projection's rebuild lock (one rebuild at a time, cluster-wide).
//! 2. Replay the whole log into a fresh shadow schema `rm_<name>__rebuild`, without the lease:
//!    the live projector keeps serving and following meanwhile.
//! 3. Once the replay is near the head, take the lease over from the live projector: fence it
//!    by incrementing the epoch and queue on its advisory lock. It notices at its next batch or
//!    heartbeat, steps down, and the lock passes to the rebuild (see `Lease::take_over`).
//! 4. Under the lease, apply what was appended meanwhile, then swap in one transaction: live
//!    schema renamed away, shadow renamed to live, old schema dropped, checkpoint set to the
//!    shadow's position and the projection's version. Readers see the old tables or the new
//!    ones, both complete.
//! 5. Release the lease. The live projector re-acquires it (a new epoch) and continues from the
//!    new checkpoint, under the same schema name.

use std::time::Duration;

use sqlx::{Connection, PgPool};
use tessera_events::EventStore;

use crate::error::ProjectionError;
use crate::lease::{self, Lease};
use crate::names::{quote_ident, ProjectionNames, REBUILD_LOCK_CLASS};
use crate::projection::Projection;
use crate::replay::{recreate_schema, Replayer};
use crate::schema;

/// How a rebuild runs.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Recorded as the checkpoint's `owner_node` while the rebuild holds the lease.
    pub node_id: String,
    /// Events per replay transaction.
    pub batch_size: usize,
    /// How long each wait for the live projector's lock lasts before fencing it again.
    pub lock_wait: Duration,
    /// Gives up when the live projector has not handed over within this time.
    pub handover_timeout: Duration,
}

impl RebuildOptions {
    /// Defaults: batches of 500, re-fencing every second, giving up after a minute.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            batch_size: 500,
            lock_wait: Duration::from_secs(1),
            handover_timeout: Duration::from_secs(60),
        }
    }
}

/// What a finished rebuild did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RebuildReport {
    /// The checkpoint position the rebuilt schema was swapped in at.
    pub position: u64,
    /// Events applied into the shadow schema.
    pub events: u64,
    /// Events of those applied while holding the lease (the live projector was paused).
    pub events_under_lease: u64,
    /// The lease epoch the swap was committed with.
    pub epoch: u64,
    /// The version recorded for the rebuilt read model.
    pub version: i32,
}

/// Rebuilds `projection` from position 0 and swaps it in; see the module documentation.
///
/// Fails with `RebuildInProgress` when another rebuild of the same projection runs.
pub async fn rebuild(
    pool: &PgPool,
    store: &dyn EventStore,
    projection: &dyn Projection,
    options: &RebuildOptions,
) -> Result<RebuildReport, ProjectionError> {
    let names = ProjectionNames::new(projection.name())?;
    let err = |context| ProjectionError::runtime(names.name, context);

    // A connection of its own: the rebuild lock lives as long as it, and no longer.
    let mut guard = lease::connect(pool, "tessera-projection-rebuild")
        .await
        .map_err(err("connect for rebuild lock"))?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(REBUILD_LOCK_CLASS)
        .bind(names.lock_key)
        .fetch_one(&mut guard)
        .await
        .map_err(err("try rebuild lock"))?;
    if !locked {
        let _ = guard.close().await;
        return Err(ProjectionError::RebuildInProgress {
            projection: names.name,
        });
    }
    let result = rebuild_locked(pool, store, projection, &names, options).await;
    if let Err(error) = &result {
        tracing::warn!(projection = names.name, %error, "rebuild failed");
    }
    // Unlocked explicitly: a session's end frees it too, but only once the server has seen the
    // session go, and a rebuild started right after must not find it still held.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
        .bind(REBUILD_LOCK_CLASS)
        .bind(names.lock_key)
        .execute(&mut guard)
        .await;
    let _ = guard.close().await;
    result
}

async fn rebuild_locked(
    pool: &PgPool,
    store: &dyn EventStore,
    projection: &dyn Projection,
    names: &ProjectionNames,
    options: &RebuildOptions,
) -> Result<RebuildReport, ProjectionError> {
    let err = |context| ProjectionError::runtime(names.name, context);
    // The checkpoint row carries the epoch that the handover fences with.
    schema::ensure(pool, projection, names).await?;

    // Left over by a rebuild that died: it holds nothing we need.
    recreate_schema(pool, projection, &names.shadow).await?;
    tracing::info!(projection = names.name, shadow = %names.shadow, "rebuild: replaying from 0");
    let mut replayer = Replayer::new(
        pool,
        store,
        projection,
        &names.shadow,
        options.batch_size,
        true,
    )
    .await?;
    // A short batch means the head is close: what remains is applied under the lease.
    while replayer.step(None).await? == replayer.batch_size() {}
    let before_lease = replayer.applied();

    tracing::info!(
        projection = names.name,
        position = replayer.position(),
        "rebuild: near the head; taking over the lease"
    );
    let lease = Lease::take_over(
        pool,
        names,
        &options.node_id,
        options.lock_wait,
        options.handover_timeout,
    )
    .await?;
    let epoch = lease.epoch();

    // The live projector is stopped now; what was appended since is applied before the swap.
    // Anything appended after the last read is left to it, from the swapped-in checkpoint.
    while replayer.step(None).await? > 0 {}
    let position = replayer.position();

    let mut tx = pool.begin().await.map_err(err("begin swap"))?;
    let current: Option<i64> =
        sqlx::query_scalar("SELECT epoch FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(names.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("lock checkpoint for swap"))?;
    if current.map(lease::to_u64) != Some(epoch) {
        // Our lock connection died and someone else took over: swapping would lose their work.
        return Err(ProjectionError::Fenced {
            projection: names.name,
            epoch,
        });
    }
    let live_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(&names.live)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("look up live schema"))?;
    let old = quote_ident(&names.old);
    let live = quote_ident(&names.live);
    let shadow = quote_ident(&names.shadow);
    let mut statements = vec![format!("DROP SCHEMA IF EXISTS {old} CASCADE")];
    if live_exists {
        statements.push(format!("ALTER SCHEMA {live} RENAME TO {old}"));
    }
    statements.push(format!("ALTER SCHEMA {shadow} RENAME TO {live}"));
    statements.push(format!("DROP SCHEMA IF EXISTS {old} CASCADE"));
    for statement in &statements {
        sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .map_err(err("swap schemas"))?;
    }
    sqlx::query(
        "UPDATE projection_checkpoints \
         SET position = $2, version = $3, schema_name = $4, owner_node = $5, updated_at = now() \
         WHERE name = $1 AND epoch = $6",
    )
    .bind(names.name)
    .bind(to_i64(position))
    .bind(projection.version())
    .bind(&names.live)
    .bind(&options.node_id)
    .bind(to_i64(epoch))
    .execute(&mut *tx)
    .await
    .map_err(err("set rebuilt checkpoint"))?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::PROJECTED_CHANNEL)
        .bind(names.name)
        .execute(&mut *tx)
        .await
        .map_err(err("announce swap"))?;
    tx.commit().await.map_err(err("commit swap"))?;
    lease.close().await;

    let report = RebuildReport {
        position,
        events: replayer.applied(),
        events_under_lease: replayer.applied() - before_lease,
        epoch,
        version: projection.version(),
    };
    tracing::info!(
        projection = names.name,
        position = report.position,
        events = report.events,
        events_under_lease = report.events_under_lease,
        epoch = report.epoch,
        version = report.version,
        "rebuild swapped in"
    );
    Ok(report)
}

/// Positions come from a bigint sequence, so they always fit.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
