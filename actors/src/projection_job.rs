//! A projection's projector as a [`HostedJob`], so a [`crate::ProjectorHost`] keeps it alive.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use tessera_events::{EventNotifier, EventStore};
use tessera_projections::{Projection, Projector, ProjectorOptions, ProjectorState};
use tokio::sync::watch;

use crate::projector_host::{HostedJob, JobKind, JobResult};

/// The watches of the projector currently running.
type Watches = (watch::Receiver<u64>, watch::Receiver<ProjectorState>);

/// Runs a fresh [`Projector`] for one projection on every (re)start. The projector resumes from
/// its checkpoint and takes the cluster lease itself, so a restart neither skips nor repeats
/// events.
pub struct ProjectionJob {
    pool: PgPool,
    store: Arc<dyn EventStore>,
    notifier: Option<EventNotifier>,
    projection: Arc<dyn Projection>,
    options: ProjectorOptions,
    current: Mutex<Option<Watches>>,
}

impl ProjectionJob {
    /// A job for `projection`, with a notifier to wake on appends (else it polls).
    pub fn new(
        pool: PgPool,
        store: Arc<dyn EventStore>,
        notifier: Option<EventNotifier>,
        projection: Arc<dyn Projection>,
        options: ProjectorOptions,
    ) -> Self {
        Self {
            pool,
            store,
            notifier,
            projection,
            options,
            current: Mutex::new(None),
        }
    }
}

impl HostedJob for ProjectionJob {
    fn name(&self) -> &str {
        self.projection.name()
    }

    fn kind(&self) -> JobKind {
        JobKind::Projector
    }

    fn run(&self, shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult> {
        let projector = Projector::new(
            self.pool.clone(),
            self.store.clone(),
            self.notifier.clone(),
            self.projection.clone(),
            self.options.clone(),
        );
        // A panic elsewhere cannot leave these half-written: poisoning carries no meaning here.
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((projector.progress(), projector.state()));
        Box::pin(async move { projector.run(shutdown).await.map_err(|e| e.to_string()) })
    }

    fn report(&self) -> Option<serde_json::Value> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let (progress, state) = current.as_ref()?;
        let state = *state.borrow();
        Some(serde_json::json!({ "position": *progress.borrow(), "projector": state }))
    }
}
