//! An administrator's decision about an event a projection quarantined: try it again, or have
//! the projection pass over it. The decision is an event in the projection's ops stream; the
//! projector holding the lease (on whichever node) acts on it within a heartbeat.

use sqlx::PgPool;
use tessera_events::aggregate::execute;
use tessera_events::projection_ops::{
    self, ProjectionOps, ProjectionOpsCommand, ProjectionOpsError,
};
use tessera_events::{CommandContext, EventStore, UserId};
use tessera_projections::poison;
use tessera_projections::{DeadLetter, Projection};
use uuid::Uuid;

/// What to do with a quarantined event.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Apply it once more (after the cause was fixed).
    Retry,
    /// Move past it without applying it; the read model will not reflect it.
    Skip { reason: Option<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionFailure {
    #[error("no quarantined event at that position")]
    NotFound,
    #[error("the event was already applied or skipped")]
    Resolved,
    #[error("{0}")]
    Internal(String),
}

/// Records `decision` about the quarantined event at `position` of `projection`'s running
/// version, by `actor`. Returns the dead letter as it stood when decided.
pub async fn decide(
    pool: &PgPool,
    store: &dyn EventStore,
    projection: &dyn Projection,
    position: u64,
    decision: Decision,
    actor: Uuid,
) -> Result<DeadLetter, DecisionFailure> {
    let internal = |e: &dyn std::fmt::Display| DecisionFailure::Internal(e.to_string());
    let version = projection.version();
    let letter = poison::find(pool, projection.name(), version, position)
        .await
        .map_err(|e| internal(&e))?
        .ok_or(DecisionFailure::NotFound)?;
    if !letter.is_open() {
        return Err(DecisionFailure::Resolved);
    }
    let command = match decision {
        Decision::Retry => ProjectionOpsCommand::Retry { position, version },
        Decision::Skip { reason } => ProjectionOpsCommand::Skip {
            position,
            version,
            event_id: letter.event_id,
            reason,
        },
    };
    let stream = projection_ops::stream(projection.name());
    let ctx = CommandContext::new(Some(UserId(actor)));
    match execute::<ProjectionOps>(store, &stream, &ctx, None, || command.clone()).await {
        Ok(_) => {}
        Err(ProjectionOpsError::AlreadySkipped { .. }) => return Err(DecisionFailure::Resolved),
        Err(e) => return Err(internal(&e)),
    }
    tracing::warn!(
        projection = projection.name(),
        position,
        event_type = %letter.event_type,
        actor = %actor,
        decision = ?command,
        "decision recorded about a quarantined event"
    );
    Ok(letter)
}
