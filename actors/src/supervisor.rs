//! `RootSupervisor`: the top of a node's actor tree, and [`start_tree`] to build it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use serde::Serialize;
use sqlx::PgPool;
use tessera_events::{EventNotifier, EventStore, StoreError};
use tessera_projections::{Projection, ProjectorOptions};

use crate::backoff::RestartPolicy;
use crate::projection_job::ProjectionJob;
use crate::projector_host::{GetHostStatus, HostStatus, HostedJob, ProjectorHost};
use crate::session::{GetRegistryStatus, RegistryStatus, SessionRegistry};
use crate::Shutdown;

/// How often the root looks for children that died without stopping (a panic inside an actor).
const LIVENESS_CHECK: Duration = Duration::from_secs(1);

/// Everything a node's actor tree needs.
pub struct TreeConfig {
    /// The database pool (projectors keep their read models and leases there).
    pub pool: PgPool,
    /// The event log.
    pub store: Arc<dyn EventStore>,
    /// The node's one LISTEN connection, shared by every follower of the log.
    pub notifier: EventNotifier,
    /// The read models to keep up to date, one [`ProjectorHost`] each.
    pub projections: Vec<Arc<dyn Projection>>,
    /// How their projectors run; `node_id` is taken from [`TreeConfig::node_id`].
    pub projector_options: ProjectorOptions,
    /// Other long-running jobs to host, one [`ProjectorHost`] each.
    pub jobs: Vec<Arc<dyn HostedJob>>,
    /// This node's id, for logs, status and the projection leases.
    pub node_id: String,
    /// How hosts restart failed jobs.
    pub restart_policy: RestartPolicy,
}

impl TreeConfig {
    /// A tree with no projections or jobs yet and default projector and restart settings.
    pub fn new(
        pool: PgPool,
        store: Arc<dyn EventStore>,
        notifier: EventNotifier,
        node_id: impl Into<String>,
    ) -> Self {
        let node_id = node_id.into();
        Self {
            pool,
            store,
            notifier,
            projections: Vec::new(),
            projector_options: ProjectorOptions::new(node_id.clone()),
            jobs: Vec::new(),
            node_id,
            restart_policy: RestartPolicy::default(),
        }
    }

    /// Adds read models to keep up to date.
    pub fn with_projections(mut self, projections: Vec<Arc<dyn Projection>>) -> Self {
        self.projections.extend(projections);
        self
    }

    /// Adds other jobs to host.
    pub fn with_jobs(mut self, jobs: Vec<Arc<dyn HostedJob>>) -> Self {
        self.jobs.extend(jobs);
        self
    }

    /// Replaces the restart policy of every host.
    pub fn with_restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.restart_policy = policy;
        self
    }

    /// Replaces the projectors' options (their `node_id` stays the tree's).
    pub fn with_projector_options(mut self, options: ProjectorOptions) -> Self {
        self.projector_options = options;
        self
    }
}

/// Handles to a running tree.
#[derive(Clone)]
pub struct Tree {
    /// The root; send it [`Shutdown`] to stop the node's actors gracefully.
    pub root: Addr<RootSupervisor>,
    /// The node's session registry (register it as app data for the WebSocket route).
    pub sessions: Addr<SessionRegistry>,
}

/// The state of the whole tree, from [`GetTreeStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct TreeStatus {
    /// This node's id.
    pub node_id: String,
    /// One entry per hosted job, in start order.
    pub hosts: Vec<HostStatus>,
    /// The session registry, if it answered.
    pub sessions: Option<RegistryStatus>,
}

impl TreeStatus {
    /// The hosts whose job should be running and is not (failed, waiting for its restart).
    pub fn down(&self) -> impl Iterator<Item = &HostStatus> {
        self.hosts.iter().filter(|h| h.is_down())
    }
}

/// Asks the root for a [`TreeStatus`].
#[derive(Message)]
#[rtype(result = "TreeStatus")]
pub struct GetTreeStatus;

/// Asks the root to host one more job under a [`ProjectorHost`] of its own, for work started
/// after the tree (a worker that needs services built later, a rebuild an admin asked for).
/// A [`crate::JobKind::Task`] leaves the tree once it has ended. Answers `false` (hosting
/// nothing) once the tree is shutting down.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct HostJob(pub Arc<dyn HostedJob>);

struct HostedChild {
    name: String,
    job: Arc<dyn HostedJob>,
    addr: Addr<ProjectorHost>,
    /// Raised by the host when its task ended for good.
    finished: Arc<AtomicBool>,
}

impl HostedChild {
    fn start(job: Arc<dyn HostedJob>, policy: RestartPolicy) -> Self {
        let host = ProjectorHost::new(job.clone(), policy);
        let finished = host.finished_flag();
        Self {
            name: job.name().to_owned(),
            job,
            addr: actix::Supervisor::start(move |_| host),
            finished,
        }
    }

    fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

/// Starts and watches the node's long-lived actors.
pub struct RootSupervisor {
    node_id: String,
    policy: RestartPolicy,
    hosts: Vec<HostedChild>,
    sessions: Addr<SessionRegistry>,
    stopped: bool,
    /// The registry's death was reported (once: it cannot be replaced in place).
    registry_dead: bool,
}

/// Builds the node's actor tree on the current arbiter: a [`ProjectorHost`] per projection and
/// per job, and the [`SessionRegistry`], which follows the log from its current head.
pub async fn start_tree(config: TreeConfig) -> Result<Tree, StoreError> {
    let head = config.store.head_position().await?;
    let projector_options = ProjectorOptions {
        node_id: config.node_id.clone(),
        ..config.projector_options
    };
    let projection_jobs = config.projections.into_iter().map(|projection| {
        Arc::new(ProjectionJob::new(
            config.pool.clone(),
            config.store.clone(),
            Some(config.notifier.clone()),
            projection,
            projector_options.clone(),
        )) as Arc<dyn HostedJob>
    });
    let registry = SessionRegistry::new(
        config.store.clone(),
        Some(config.notifier.clone()),
        config.node_id.clone(),
        head,
    );
    let sessions = actix::Supervisor::start(move |_| registry);
    let hosts = projection_jobs
        .chain(config.jobs)
        .map(|job| HostedChild::start(job, config.restart_policy.clone()))
        .collect();
    let root = RootSupervisor {
        node_id: config.node_id,
        policy: config.restart_policy,
        hosts,
        sessions: sessions.clone(),
        stopped: false,
        registry_dead: false,
    }
    .start();
    Ok(Tree { root, sessions })
}

impl RootSupervisor {
    /// A host whose actor vanished (it panicked inside a handler, which its `Supervisor` cannot
    /// catch) gets a fresh one; the job's own failures are the host's business. Tasks that have
    /// ended leave the tree (dropping the last address stops their idle host).
    fn check_children(&mut self) {
        if self.stopped {
            return;
        }
        self.hosts.retain(|child| !child.is_finished());
        for child in &mut self.hosts {
            if !child.addr.connected() {
                tracing::error!(
                    node = %self.node_id,
                    job = %child.name,
                    "job host died; starting a new one"
                );
                *child = HostedChild::start(child.job.clone(), self.policy.clone());
            }
        }
        // The route holds the registry's address, so a new registry could not take its place;
        // the node needs a restart (its readiness should say so).
        if !self.registry_dead && !self.sessions.connected() {
            self.registry_dead = true;
            tracing::error!(node = %self.node_id, "session registry died; live sessions stop");
        }
    }
}

impl Actor for RootSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(
            node = %self.node_id,
            hosts = self.hosts.len(),
            "actor tree started"
        );
        ctx.run_interval(LIVENESS_CHECK, |act, _| act.check_children());
    }
}

impl Handler<GetTreeStatus> for RootSupervisor {
    type Result = ResponseFuture<TreeStatus>;

    fn handle(&mut self, _: GetTreeStatus, _: &mut Self::Context) -> Self::Result {
        let hosts: Vec<_> = self
            .hosts
            .iter()
            .map(|c| (c.name.clone(), c.job.kind(), c.addr.clone()))
            .collect();
        let sessions = self.sessions.clone();
        let node_id = self.node_id.clone();
        let stopping = self.stopped;
        Box::pin(async move {
            let hosts = join_all(hosts.into_iter().map(|(name, kind, addr)| async move {
                // A host that died is replaced within a liveness check; until then it is down.
                addr.send(GetHostStatus)
                    .await
                    .unwrap_or_else(|_| HostStatus {
                        name,
                        kind,
                        running: false,
                        restarts: 0,
                        last_error: Some("the host does not answer".into()),
                        stopped: stopping,
                        finished: false,
                        detail: None,
                    })
            }))
            .await;
            TreeStatus {
                node_id,
                hosts,
                sessions: sessions.send(GetRegistryStatus).await.ok(),
            }
        })
    }
}

impl Handler<HostJob> for RootSupervisor {
    type Result = bool;

    fn handle(&mut self, HostJob(job): HostJob, _: &mut Self::Context) -> bool {
        if self.stopped {
            tracing::warn!(node = %self.node_id, job = job.name(), "not hosting a job while shutting down");
            return false;
        }
        tracing::info!(node = %self.node_id, job = job.name(), kind = ?job.kind(), "hosting a job");
        self.hosts
            .push(HostedChild::start(job, self.policy.clone()));
        true
    }
}

impl Handler<Shutdown> for RootSupervisor {
    type Result = ResponseFuture<()>;

    /// Stops every projector (each drops its lease as it ends) and closes every session; answers
    /// when all projectors have stopped.
    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        self.stopped = true;
        tracing::info!(node = %self.node_id, "actor tree shutting down");
        let hosts: Vec<_> = self.hosts.iter().map(|c| c.addr.clone()).collect();
        let sessions = self.sessions.clone();
        let node_id = self.node_id.clone();
        Box::pin(async move {
            let _ = sessions.send(Shutdown).await;
            join_all(hosts.iter().map(|h| h.send(Shutdown))).await;
            tracing::info!(node = %node_id, "actor tree stopped");
        })
    }
}
