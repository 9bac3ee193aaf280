//! Poison events in the live projector: finding the event at fault in a failed batch, and
//! waiting, stalled before it, for an administrator's decision (see `crate::poison`).

use tessera_events::RecordedEvent;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::{stopped, BatchOutcome, Projector, ProjectorState, Stop};
use crate::error::ProjectionError;
use crate::lease::{Lease, LeaseLoss};
use crate::names::ProjectionNames;
use crate::poison::{self, Decisions};

/// What applying a failed batch's events one at a time found.
pub(super) enum Isolated {
    /// Each applied on its own: the batch failed only as a whole.
    Committed,
    Fenced,
    /// This event cannot be applied; those before it are committed.
    Poison(Box<(RecordedEvent, ProjectionError)>),
}

impl Projector {
    /// Commits `batch`'s events one at a time from `position` (moving it) until one fails.
    pub(super) async fn isolate(
        &self,
        names: &ProjectionNames,
        epoch: u64,
        position: &mut u64,
        batch: &[RecordedEvent],
        decisions: &Decisions,
    ) -> Result<Isolated, ProjectionError> {
        for event in batch {
            let one = std::slice::from_ref(event);
            match self
                .commit_batch(names, epoch, *position, one, decisions)
                .await
            {
                Ok(BatchOutcome::Committed) => {
                    *position = event.global_position;
                    self.progress.send_replace(*position);
                }
                Ok(BatchOutcome::Fenced) => return Ok(Isolated::Fenced),
                Err(e) if e.is_poison() => {
                    return Ok(Isolated::Poison(Box::new((event.clone(), e))))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Isolated::Committed)
    }

    /// Quarantines `event` and waits, holding the lease, until an administrator has it retried
    /// (and it applies) or skipped; then the checkpoint moves past it. `None` when it did; a
    /// `Stop` when shutdown or the loss of the lease came first.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn stall(
        &self,
        names: &ProjectionNames,
        lease: &mut Lease,
        position: &mut u64,
        event: &RecordedEvent,
        mut error: ProjectionError,
        decisions: &mut Decisions,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Stop>, ProjectionError> {
        let at = event.global_position;
        let version = self.projection.version();
        let period = self.options.heartbeat;
        loop {
            let text = error.to_string();
            let attempts =
                poison::record(&self.pool, names.name, version, event, false, &text).await?;
            self.set_state(ProjectorState::Stalled { position: at });
            tracing::error!(
                alert = "projection_stalled",
                position = at,
                event_type = %event.event_type,
                stream = %event.stream_id,
                attempts,
                error = %text,
                "event quarantined: the projection is stalled until an administrator retries or skips it"
            );
            let mut heartbeat = tokio::time::interval(period);
            heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
            // Waits for a decision about this event: a skip (already recorded, or new) or a
            // new retry request.
            loop {
                let new = decisions.refresh(&*self.store).await?;
                if decisions.is_skipped(at) || new.iter().any(|d| d.position() == at) {
                    break;
                }
                tokio::select! {
                    biased;
                    () = stopped(shutdown) => return Ok(Some(Stop::Shutdown)),
                    _ = heartbeat.tick() => {
                        if let Some(loss) = lease.check().await {
                            return Ok(Some(Stop::LeaseLost(loss)));
                        }
                    }
                }
            }
            let skipped = decisions.is_skipped(at);
            let one = std::slice::from_ref(event);
            match self
                .commit_batch(names, lease.epoch(), *position, one, decisions)
                .await
            {
                Ok(BatchOutcome::Committed) => {
                    *position = at;
                    self.progress.send_replace(at);
                    self.set_state(ProjectorState::Active {
                        epoch: lease.epoch(),
                    });
                    tracing::warn!(
                        position = at,
                        skipped,
                        "quarantined event resolved; following again"
                    );
                    return Ok(None);
                }
                Ok(BatchOutcome::Fenced) => return Ok(Some(Stop::LeaseLost(LeaseLoss::Fenced))),
                Err(e) if e.is_poison() => error = e,
                Err(e) => return Err(e),
            }
        }
    }

    /// After a rebuild stopped at the quarantined event at `position`: waits until an
    /// administrator has it retried or skipped. True when shutdown came first.
    pub(super) async fn await_decision(
        &self,
        names: &ProjectionNames,
        position: u64,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, ProjectionError> {
        let mut decisions =
            Decisions::load(&*self.store, names.name, self.projection.version()).await?;
        // A retry recorded before the rebuild began was for an earlier attempt.
        while !decisions.is_skipped(position) {
            if self.pause(shutdown).await {
                return Ok(true);
            }
            let new = decisions.refresh(&*self.store).await?;
            if new.iter().any(|d| d.position() == position) {
                break;
            }
        }
        Ok(false)
    }
}
