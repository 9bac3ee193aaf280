//! Per-projection change counters and the listener that bumps them from the projections'
//! announcements.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::postgres::{PgListener, PgPool};
use tessera_actors::{stop_requested, HostedJob, JobResult};
use tessera_projections::PROJECTED_CHANNEL;
use tokio::sync::watch;

/// Per-projection change counters, bumped by every announced batch; all of them at once after a
/// lost listener connection (announcements may have been missed).
pub struct ProjectionEpochs {
    counters: HashMap<&'static str, AtomicU64>,
    everything: AtomicU64,
    listener: OnceLock<AbortOnDrop>,
    /// Ticks on every bump, for those who act on changes (the Redis cache).
    changes: watch::Sender<u64>,
}

/// A listener run by its cache itself; stops it when the cache goes away.
pub(super) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `job` in a task of its own, again after a pause whenever it fails: for caches made with
/// no supervisor to host their listener.
pub(super) fn run_alone(job: Arc<dyn HostedJob>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let (_never, stop) = watch::channel(false);
        while let Err(error) = job.run(stop.clone()).await {
            tracing::warn!(job = job.name(), %error, "cache listener failed; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }))
}

/// Waits until the job is asked to stop: what a listener does once its cache is gone.
pub(super) async fn idle(mut shutdown: watch::Receiver<bool>) -> JobResult {
    stop_requested(&mut shutdown).await;
    Ok(())
}
/// Follows the projections' announcements and bumps the counters they name. A run that loses
/// its connection fails (its supervisor starts another); a run on a new connection starts by
/// bumping all counters, since announcements may have been missed while none listened.
pub struct EpochListener {
    pool: PgPool,
    /// Weak, so that a listener run by the counters themselves does not keep them alive.
    epochs: Weak<ProjectionEpochs>,
    /// The connection made when the counters were, for the first run.
    connected: Mutex<Option<PgListener>>,
}

impl HostedJob for EpochListener {
    fn name(&self) -> &str {
        "cache-announcements"
    }

    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult> {
        let (pool, weak) = (self.pool.clone(), self.epochs.clone());
        let connected = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        async move {
            // The first run's connection has listened since the counters were made; a new one
            // may have missed announcements, so everything cached so far is suspect.
            let mut listener = match connected {
                Some(listener) => listener,
                None => {
                    let listener = listen(&pool).await.map_err(|e| e.to_string())?;
                    match weak.upgrade() {
                        Some(epochs) => epochs.bump_all(),
                        None => return idle(shutdown).await,
                    }
                    listener
                }
            };
            loop {
                let received = tokio::select! {
                    _ = stop_requested(&mut shutdown) => return Ok(()),
                    received = listener.try_recv() => received,
                };
                let Some(epochs) = weak.upgrade() else {
                    return idle(shutdown).await;
                };
                match received {
                    Ok(Some(n)) => epochs.bump(n.payload()),
                    // The connection dropped; the listener reconnects on the next call.
                    Ok(None) => epochs.bump_all(),
                    Err(e) => {
                        epochs.bump_all();
                        return Err(format!("projection announcements lost: {e}"));
                    }
                }
            }
        }
        .boxed()
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(PROJECTED_CHANNEL).await?;
    Ok(listener)
}

impl ProjectionEpochs {
    /// Counters for the named projections and the listener that feeds them, already connected
    /// (so a database that refuses it fails here); host the listener under a supervisor.
    pub async fn listen(
        pool: &PgPool,
        names: &[&'static str],
    ) -> Result<(Arc<Self>, EpochListener), sqlx::Error> {
        let connected = listen(pool).await?;
        let epochs = Arc::new(Self::detached(names));
        let listener = EpochListener {
            pool: pool.clone(),
            epochs: Arc::downgrade(&epochs),
            connected: Mutex::new(Some(connected)),
        };
        Ok((epochs, listener))
    }

    /// Counters whose listener runs in a task of their own (where no supervisor hosts it).
    pub async fn start(pool: &PgPool, names: &[&'static str]) -> Result<Arc<Self>, sqlx::Error> {
        let (epochs, listener) = Self::listen(pool, names).await?;
        let _ = epochs.listener.set(run_alone(Arc::new(listener)));
        Ok(epochs)
    }

    /// Counters with no listener (tests bump them by hand).
    pub fn detached(names: &[&'static str]) -> Self {
        Self {
            counters: names.iter().map(|n| (*n, AtomicU64::new(0))).collect(),
            everything: AtomicU64::new(0),
            listener: OnceLock::new(),
            changes: watch::channel(0).0,
        }
    }

    /// A projection committed: reads depending on it are stale.
    pub fn bump(&self, name: &str) {
        if let Some(c) = self.counters.get(name) {
            c.fetch_add(1, Ordering::AcqRel);
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    pub fn bump_all(&self) {
        self.everything.fetch_add(1, Ordering::AcqRel);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The projections these counters follow.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.counters.keys().copied()
    }

    /// Whether `name` is one of them.
    pub fn follows(&self, name: &str) -> bool {
        self.counters.contains_key(name)
    }

    /// Changes whenever anything was bumped (never misses one: see `watch::Receiver::changed`).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A value that changes whenever any of `names` (or everything) was bumped.
    pub fn epoch(&self, names: &[&str]) -> u64 {
        names
            .iter()
            .filter_map(|n| self.counters.get(*n))
            .fold(self.everything.load(Ordering::Acquire), |sum, c| {
                sum.wrapping_add(c.load(Ordering::Acquire))
            })
    }
}
