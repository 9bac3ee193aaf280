//! Where each projection stands against the head of the log.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tessera_events::{EventStore, PgEventStore};

use crate::error::ProjectionError;
use crate::lease::to_u64;
use crate::poison::{self, DeadLetter};
use crate::projection::Projection;

/// One projection's progress, as an admin endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionStatus {
    pub name: String,
    /// The last position committed into the read model (0 before the first start).
    pub position: u64,
    /// The event store's head position.
    pub head: u64,
    /// `head - position`: positions, not events, since rolled-back appends leave gaps.
    pub lag: u64,
    /// The version the live tables were built with (0 before the first start).
    pub version: i32,
    /// The version the running code expects; differs from `version` until a rebuild.
    pub target_version: i32,
    /// Lease epoch: how many times the lease changed hands.
    pub epoch: u64,
    /// The node that last held the lease.
    pub owner_node: Option<String>,
    /// When the checkpoint last moved (`None` before the first start).
    pub updated_at: Option<DateTime<Utc>>,
    /// The position of the quarantined event it is stalled before, if it is.
    pub stalled_at: Option<u64>,
    /// Its open dead letters, then the last few resolved ones.
    pub dead_letters: Vec<DeadLetter>,
}

/// How many resolved dead letters each projection's status keeps showing.
const RESOLVED_SHOWN: i64 = 10;

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    name: String,
    position: i64,
    epoch: i64,
    version: i32,
    owner_node: Option<String>,
    updated_at: DateTime<Utc>,
}

/// The status of each of `projections`, in the order given.
pub async fn status(
    pool: &PgPool,
    projections: &[Arc<dyn Projection>],
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    let rows: Vec<CheckpointRow> = sqlx::query_as(
        "SELECT name, position, epoch, version, owner_node, updated_at \
         FROM projection_checkpoints WHERE name = ANY($1)",
    )
    .bind(&names)
    .fetch_all(pool)
    .await
    .map_err(|source| ProjectionError::Runtime {
        projection: "*",
        context: "read checkpoints",
        source,
    })?;
    let mut dead_letters = poison::dead_letters(pool, &names, RESOLVED_SHOWN).await?;
    // Read after the checkpoints, so the head is never behind a position reported with it.
    let head = PgEventStore::new(pool.clone()).head_position().await?;
    Ok(projections
        .iter()
        .map(|p| {
            let row = rows.iter().find(|r| r.name == p.name());
            let position = row.map_or(0, |r| to_u64(r.position));
            let (mine, others) = std::mem::take(&mut dead_letters)
                .into_iter()
                .partition::<Vec<_>, _>(|d| d.projection == p.name());
            dead_letters = others;
            let live_version = row.map_or(0, |r| r.version);
            let stalled_at = mine
                .iter()
                .filter(|d| d.stalls(live_version))
                .map(|d| d.position)
                .min();
            ProjectionStatus {
                name: p.name().to_owned(),
                position,
                head,
                lag: head.saturating_sub(position),
                version: row.map_or(0, |r| r.version),
                target_version: p.version(),
                epoch: row.map_or(0, |r| to_u64(r.epoch)),
                owner_node: row.and_then(|r| r.owner_node.clone()),
                updated_at: row.map(|r| r.updated_at),
                stalled_at,
                dead_letters: mine,
            }
        })
        .collect())
}
