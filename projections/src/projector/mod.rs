//! The projector: follows the log for one projection while it holds the projection's lease,
//! committing each batch together with its checkpoint (guarantees 5 and 6).

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tessera_events::{EventNotifier, EventStore, RecordedEvent, Subscription};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

mod quarantine;

use quarantine::Isolated;

use crate::error::ProjectionError;
use crate::lease::{self, Acquired, Lease, LeaseLoss};
use crate::names::ProjectionNames;
use crate::poison::{self, Decisions};
use crate::projection::Projection;
use crate::rebuild::{self, to_i64, RebuildOptions};
use crate::replay::apply_guarded;
use crate::schema::{self, set_local_search_path};

/// How a projector runs.
#[derive(Debug, Clone)]
pub struct ProjectorOptions {
    /// This node's name, recorded as the checkpoint's `owner_node` while it holds the lease.
    pub node_id: String,
    /// At most this many events per transaction.
    pub batch_size: usize,
    /// How often a node without the lease tries to take it.
    pub lease_retry: Duration,
    /// How often the holder checks its lock connection and its epoch. Also bounds how long an
    /// idle holder takes to notice that a rebuild asked for the lease.
    pub heartbeat: Duration,
    /// How often to read the log when no notification arrives.
    pub poll_interval: Duration,
    /// For the rebuild this projector runs itself when `version()` changed.
    pub handover_lock_wait: Duration,
    /// For the rebuild this projector runs itself when `version()` changed.
    pub handover_timeout: Duration,
}

impl ProjectorOptions {
    /// Defaults: batches of 500, lease retries and heartbeats every second.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            batch_size: 500,
            lease_retry: Duration::from_secs(1),
            heartbeat: Duration::from_secs(1),
            poll_interval: Duration::from_millis(250),
            handover_lock_wait: Duration::from_secs(1),
            handover_timeout: Duration::from_secs(60),
        }
    }
}

/// What a projector is doing, for hosts' health reports (and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProjectorState {
    /// `run` has not got far yet.
    Starting,
    /// Rebuilding because the stored version differs from the projection's.
    Rebuilding,
    /// Waiting for the lease, which another node (or a rebuild) holds.
    Standby,
    /// Holding the lease and following the log, writing with this epoch.
    Active { epoch: u64 },
    /// Stopped before the event at `position`, which it cannot apply: the event is quarantined
    /// (a dead letter) until an administrator retries or skips it.
    Stalled { position: u64 },
    /// `run` returned (or its future was dropped).
    Stopped,
}

/// Follows the log for one projection. Build it, take `progress()`/`state()`, then `run` it.
pub struct Projector {
    pool: PgPool,
    store: Arc<dyn EventStore>,
    notifier: Option<EventNotifier>,
    projection: Arc<dyn Projection>,
    options: ProjectorOptions,
    progress: watch::Sender<u64>,
    state: watch::Sender<ProjectorState>,
}

/// Why following stopped without an error.
enum Stop {
    Shutdown,
    LeaseLost(LeaseLoss),
}

/// Outcome of one batch transaction.
enum BatchOutcome {
    Committed,
    Fenced,
}

/// Marks the projector stopped however `run` ends, including when its future is dropped.
struct StoppedOnDrop<'a>(&'a watch::Sender<ProjectorState>);

impl Drop for StoppedOnDrop<'_> {
    fn drop(&mut self) {
        self.0.send_replace(ProjectorState::Stopped);
    }
}

impl Projector {
    /// A projector for `projection`. With a `notifier` it wakes on appends; without, it polls.
    pub fn new(
        pool: PgPool,
        store: Arc<dyn EventStore>,
        notifier: Option<EventNotifier>,
        projection: Arc<dyn Projection>,
        mut options: ProjectorOptions,
    ) -> Self {
        options.batch_size = options.batch_size.max(1);
        Self {
            pool,
            store,
            notifier,
            projection,
            options,
            progress: watch::channel(0).0,
            state: watch::channel(ProjectorState::Starting).0,
        }
    }

    /// The position up to which this projector has committed the read model.
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    /// What this projector is doing.
    pub fn state(&self) -> watch::Receiver<ProjectorState> {
        self.state.subscribe()
    }

    /// Runs until `shutdown` turns true (or its sender is dropped), or an error that the host
    /// should answer by restarting (a failed `apply`, an unreachable database).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), ProjectionError> {
        let _stopped = StoppedOnDrop(&self.state);
        let names = ProjectionNames::new(self.projection.name())?;
        let span = tracing::info_span!(
            "projector",
            projection = names.name,
            node = %self.options.node_id
        );
        let result = self
            .run_loop(&names, &mut shutdown)
            .instrument(span.clone())
            .await;
        if let Err(error) = &result {
            span.in_scope(|| tracing::error!(%error, "projector stopped on error"));
        }
        result
    }

    async fn run_loop(
        &self,
        names: &ProjectionNames,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let version = self.projection.version();
        // Reused between attempts so a standby node does not reconnect every `lease_retry`.
        let mut lock_conn: Option<PgConnection> = None;
        let mut warned_newer = false;
        loop {
            if stop_requested(shutdown) {
                return Ok(());
            }
            let prepared = schema::ensure(&self.pool, &*self.projection, names).await?;
            if prepared.version > version {
                // A newer deployment rebuilt it; rebuilding back would make two versions
                // fight. Stand by until this node is upgraded.
                if !warned_newer {
                    tracing::warn!(
                        stored_version = prepared.version,
                        version,
                        "read model was built by a newer version; standing by"
                    );
                    warned_newer = true;
                }
                self.set_state(ProjectorState::Standby);
                if self.pause(shutdown).await {
                    return Ok(());
                }
                continue;
            }
            if prepared.version < version || !prepared.live_schema_exists {
                self.set_state(ProjectorState::Rebuilding);
                tracing::info!(
                    stored_version = prepared.version,
                    version,
                    schema_exists = prepared.live_schema_exists,
                    "rebuilding the read model before following"
                );
                let options = RebuildOptions {
                    node_id: self.options.node_id.clone(),
                    batch_size: self.options.batch_size,
                    lock_wait: self.options.handover_lock_wait,
                    handover_timeout: self.options.handover_timeout,
                };
                let rebuilt = tokio::select! {
                    r = rebuild::rebuild(&self.pool, &*self.store, &*self.projection, &options) => r,
                    () = stopped(shutdown) => return Ok(()),
                };
                match rebuilt {
                    Ok(_) => {}
                    // Quarantined: rebuild again once an administrator decided about it.
                    Err(ProjectionError::Poisoned { position, .. }) => {
                        self.set_state(ProjectorState::Stalled { position });
                        if self.await_decision(names, position, shutdown).await? {
                            return Ok(());
                        }
                    }
                    // Another node of this version is rebuilding: wait for it.
                    Err(ProjectionError::RebuildInProgress { .. }) => {
                        if self.pause(shutdown).await {
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }

            self.set_state(ProjectorState::Standby);
            let Some(mut lease) = self.acquire(names, &mut lock_conn, shutdown).await? else {
                return Ok(());
            };
            if lease.version() != version {
                // Changed between `ensure` and taking the lease: decide again.
                lock_conn = lease.release().await;
                continue;
            }
            warned_newer = false;
            tracing::info!(
                epoch = lease.epoch(),
                position = lease.position(),
                "lease acquired"
            );
            self.set_state(ProjectorState::Active {
                epoch: lease.epoch(),
            });
            let outcome = self.follow(names, &mut lease, shutdown).await;
            // Standby before the lock is released, so two states never both say Active.
            self.set_state(ProjectorState::Standby);
            let epoch = lease.epoch();
            lock_conn = lease.release().await;
            match outcome {
                Ok(Stop::Shutdown) => {
                    tracing::info!(epoch, "lease released on shutdown");
                    return Ok(());
                }
                Ok(Stop::LeaseLost(reason)) => {
                    tracing::warn!(epoch, ?reason, "lease lost; standing by");
                    // Gives a rebuild queued on the lock time to take it.
                    if self.pause(shutdown).await {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Tries for the lease every `lease_retry` until it is ours (`None`: shutdown came first).
    async fn acquire(
        &self,
        names: &ProjectionNames,
        lock_conn: &mut Option<PgConnection>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Lease>, ProjectionError> {
        loop {
            let (conn, reused) = match lock_conn.take() {
                Some(conn) => (conn, true),
                None => {
                    let conn = lease::connect(&self.pool, "tessera-projector-lease")
                        .await
                        .map_err(ProjectionError::runtime(names.name, "connect for lease"))?;
                    (conn, false)
                }
            };
            match Lease::try_acquire(conn, names, &self.options.node_id).await {
                Ok(Acquired::Held(lease)) => return Ok(Some(lease)),
                Ok(Acquired::Busy(conn)) => *lock_conn = Some(conn),
                // An idle connection kept between attempts may have been closed under us
                // (server restart, idle timeout): retry at once on a fresh one.
                Err(error) if reused => {
                    tracing::debug!(%error, "kept lease connection failed; reconnecting");
                    continue;
                }
                Err(error) => return Err(error),
            }
            if self.pause(shutdown).await {
                return Ok(None);
            }
        }
    }

    /// Follows the log from the checkpoint while the lease holds.
    async fn follow(
        &self,
        names: &ProjectionNames,
        lease: &mut Lease,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Stop, ProjectionError> {
        let mut position = lease.position();
        self.progress.send_replace(position);
        let mut decisions =
            Decisions::load(&*self.store, names.name, self.projection.version()).await?;
        let mut subscription = self.subscribe(position);
        let period = self.options.heartbeat;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // `next_batch` may be cancelled by the other branches: it moves its position only
            // after a read returned, with no await in between, so nothing is lost.
            tokio::select! {
                biased;
                () = stopped(shutdown) => return Ok(Stop::Shutdown),
                _ = heartbeat.tick() => {
                    if let Some(loss) = lease.check().await {
                        return Ok(Stop::LeaseLost(loss));
                    }
                }
                batch = subscription.next_batch(self.options.batch_size) => {
                    let batch = batch?;
                    let Some(last) = batch.last().map(|e| e.global_position) else {
                        continue;
                    };
                    let error = match self.commit_batch(names, lease.epoch(), position, &batch, &decisions).await {
                        Ok(BatchOutcome::Committed) => {
                            tracing::debug!(from = position, to = last, events = batch.len(), "batch committed");
                            position = last;
                            self.progress.send_replace(position);
                            continue;
                        }
                        Ok(BatchOutcome::Fenced) => return Ok(Stop::LeaseLost(LeaseLoss::Fenced)),
                        Err(e) if e.is_poison() => e,
                        Err(e) => return Err(e),
                    };
                    tracing::warn!(%error, from = position, to = last, "batch failed; applying its events one at a time");
                    match self.isolate(names, lease.epoch(), &mut position, &batch, &decisions).await? {
                        Isolated::Committed => {}
                        Isolated::Fenced => return Ok(Stop::LeaseLost(LeaseLoss::Fenced)),
                        Isolated::Poison(failed) => {
                            let (event, error) = *failed;
                            let stalled = self
                                .stall(names, lease, &mut position, &event, error, &mut decisions, shutdown)
                                .await?;
                            if let Some(stop) = stalled {
                                return Ok(stop);
                            }
                        }
                    }
                    // What followed the event at fault was read but not applied: read it again.
                    subscription = self.subscribe(position);
                }
            }
        }
    }

    /// Applies `batch` and moves the checkpoint from `from` to its last position, in one
    /// transaction that commits only while `epoch` is still the current one.
    async fn commit_batch(
        &self,
        names: &ProjectionNames,
        epoch: u64,
        from: u64,
        batch: &[RecordedEvent],
        decisions: &Decisions,
    ) -> Result<BatchOutcome, ProjectionError> {
        let err = |context| ProjectionError::runtime(names.name, context);
        let Some(to) = batch.last().map(|e| e.global_position) else {
            return Ok(BatchOutcome::Committed);
        };
        let mut tx = self.pool.begin().await.map_err(err("begin batch"))?;
        // Locks the checkpoint row first: a fencing epoch increment either committed before
        // (and this sees it) or waits until this batch commits. Also before `search_path` moves.
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT epoch, position FROM projection_checkpoints WHERE name = $1 FOR UPDATE",
        )
        .bind(names.name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err("lock checkpoint"))?;
        match row.map(|(e, p)| (lease::to_u64(e), lease::to_u64(p))) {
            Some((current, _)) if current != epoch => {
                tracing::warn!(epoch, current_epoch = current, "fenced: batch rolled back");
                let _ = tx.rollback().await;
                return Ok(BatchOutcome::Fenced);
            }
            Some((_, stored)) if stored != from => {
                return Err(ProjectionError::Checkpoint {
                    projection: names.name,
                    detail: format!("at {stored} under our epoch {epoch}, expected {from}"),
                });
            }
            Some(_) => {}
            None => {
                return Err(ProjectionError::Checkpoint {
                    projection: names.name,
                    detail: "checkpoint row is gone".into(),
                })
            }
        }
        sqlx::query(
            "UPDATE projection_checkpoints \
             SET position = $2, owner_node = $3, updated_at = now() WHERE name = $1",
        )
        .bind(names.name)
        .bind(to_i64(to))
        .bind(&self.options.node_id)
        .execute(&mut *tx)
        .await
        .map_err(err("move checkpoint"))?;
        poison::resolve_range(
            &mut tx,
            names.name,
            self.projection.version(),
            from,
            to,
            decisions,
        )
        .await
        .map_err(err("resolve dead letters"))?;
        set_local_search_path(&mut tx, &names.live)
            .await
            .map_err(err("set search_path"))?;
        if let Err(e) = apply_guarded(&*self.projection, &mut tx, batch, decisions).await {
            // Explicitly, so the checkpoint row lock goes now rather than when the
            // connection is next used.
            let _ = tx.rollback().await;
            return Err(e);
        }
        tx.commit().await.map_err(err("commit batch"))?;
        // After the commit, not inside it: a notifying commit holds PostgreSQL's notify lock
        // until it is flushed. An announcement lost to a failure right after the commit leaves
        // cached reads of this projection stale until its next batch announces.
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(crate::PROJECTED_CHANNEL)
            .bind(names.name)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "could not announce a projected batch");
        }
        Ok(BatchOutcome::Committed)
    }

    fn subscribe(&self, after: u64) -> Subscription {
        Subscription::new(self.store.clone(), self.notifier.as_ref(), after)
            .with_poll_interval(self.options.poll_interval)
    }

    fn set_state(&self, state: ProjectorState) {
        self.state.send_replace(state);
    }

    /// Sleeps `lease_retry`; true when shutdown was requested meanwhile.
    async fn pause(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            () = stopped(shutdown) => true,
            () = tokio::time::sleep(self.options.lease_retry) => false,
        }
    }
}

fn stop_requested(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Resolves once shutdown is requested. A dropped sender counts: nobody could stop us later.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
