//! A projection rebuild as a hosted task: a rebuild that fails or panics part way is run again
//! by its [`crate::ProjectorHost`] after a backoff, and its end is reported once.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use tessera_events::EventStore;
use tessera_projections::{rebuild, Projection, ProjectionError, RebuildOptions, RebuildReport};
use tokio::sync::watch;

use crate::projector_host::{HostedJob, JobKind, JobResult};

/// How a rebuild ended: its report, or why it did not complete.
pub type RebuildOutcome = Result<RebuildReport, String>;

/// Told once how a rebuild ended.
pub type OnRebuildEnd = Box<dyn Fn(RebuildOutcome) + Send + Sync>;

/// Rebuilds one projection from position 0 (see [`tessera_projections::rebuild`]).
pub struct RebuildJob {
    name: String,
    pool: PgPool,
    store: Arc<dyn EventStore>,
    projection: Arc<dyn Projection>,
    options: RebuildOptions,
    on_end: Arc<OnRebuildEnd>,
}

impl RebuildJob {
    /// A rebuild of `projection`; `on_end` hears how it ended.
    pub fn new(
        pool: PgPool,
        store: Arc<dyn EventStore>,
        projection: Arc<dyn Projection>,
        options: RebuildOptions,
        on_end: OnRebuildEnd,
    ) -> Self {
        Self {
            name: Self::name_for(projection.name()),
            pool,
            store,
            projection,
            options,
            on_end: Arc::new(on_end),
        }
    }

    /// The name a rebuild of `projection` has in the tree's status.
    pub fn name_for(projection: &str) -> String {
        format!("rebuild:{projection}")
    }
}

impl HostedJob for RebuildJob {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> JobKind {
        JobKind::Task
    }

    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult> {
        let (pool, store) = (self.pool.clone(), self.store.clone());
        let (projection, options) = (self.projection.clone(), self.options.clone());
        let on_end = self.on_end.clone();
        Box::pin(async move {
            let rebuilt = tokio::select! {
                r = rebuild(&pool, store.as_ref(), projection.as_ref(), &options) => r,
                // Dropping the rebuild closes its lock's connection; the next one starts over.
                _ = shutdown.wait_for(|stop| *stop) => {
                    on_end(Err("the node shut down during the rebuild".into()));
                    return Ok(());
                }
            };
            match rebuilt {
                Ok(report) => on_end(Ok(report)),
                // Another node is rebuilding it: running again would only meet the same lock.
                Err(e @ ProjectionError::RebuildInProgress { .. }) => on_end(Err(e.to_string())),
                Err(e) => return Err(e.to_string()),
            }
            Ok(())
        })
    }

    fn gave_up(&self, error: &str) {
        (self.on_end)(Err(error.to_owned()));
    }
}
