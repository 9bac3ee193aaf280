//! `ProjectorHost`: keeps one job alive: a projection's projector, another worker of the node,
//! or a task that ends (a rebuild).
//!
//! The job runs as its own tokio task so that a panic in its code unwinds only that task: the
//! host sees it as a `JoinError`, logs it and restarts the job after a backoff. The host itself
//! never runs the job's code on its own stack.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, JoinError};

use crate::backoff::{Backoff, RestartPolicy};
use crate::Shutdown;

/// What a job's run ends with: `Ok` only when it was asked to stop (or, for a
/// [`JobKind::Task`], when its work is done), otherwise the reason.
pub type JobResult = Result<(), String>;

/// Runs a failing [`JobKind::Task`] gets in all before its host gives up on it.
pub const TASK_RUNS: u64 = 3;

/// What a hosted job is, which decides how its host treats a run that ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A projection's projector: runs for the life of the node.
    Projector,
    /// Other work that runs for the life of the node (a queue worker, a listener, a sweeper).
    Worker,
    /// Work that ends (a rebuild): done when a run returns `Ok`; a failed run is retried after
    /// backoff, [`TASK_RUNS`] runs in all.
    Task,
}

impl JobKind {
    /// Whether the job is meant to run for the life of the node.
    pub fn lives_with_node(self) -> bool {
        !matches!(self, JobKind::Task)
    }
}

/// Work a [`ProjectorHost`] keeps alive, e.g. a projection's projector.
///
/// `run` is called once per (re)start and must return only when `shutdown` turns `true` (then
/// `Ok`) or on failure (`Err`). For jobs that live with the node, a run that returns `Ok` without
/// being asked is treated as a failure and restarted; a [`JobKind::Task`] returns `Ok` when done.
pub trait HostedJob: Send + Sync + 'static {
    /// A stable name for logs and status (the projection's name).
    fn name(&self) -> &str;
    /// Starts one run of the job.
    fn run(&self, shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult>;
    /// What the job wants to show in [`HostStatus::detail`] (e.g. a projector's position).
    fn report(&self) -> Option<serde_json::Value> {
        None
    }
    /// What kind of job it is (by default a worker that lives with the node).
    fn kind(&self) -> JobKind {
        JobKind::Worker
    }
    /// Called once when the host gives up on a [`JobKind::Task`] whose every run failed.
    fn gave_up(&self, _error: &str) {}
}

/// Resolves once a run is asked to stop (or its host is gone): for a job's `select!` loop.
pub async fn stop_requested(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// A [`HostedJob`] made of a name and a closure; handy for tests and small jobs.
pub struct JobFn<F> {
    name: String,
    kind: JobKind,
    f: F,
}

impl<F> JobFn<F>
where
    F: Fn(watch::Receiver<bool>) -> BoxFuture<'static, JobResult> + Send + Sync + 'static,
{
    /// Wraps `f` as a job named `name`.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        Self {
            name: name.into(),
            kind: JobKind::Worker,
            f,
        }
    }

    /// The same job, of another kind (e.g. a [`JobKind::Task`]).
    pub fn of_kind(mut self, kind: JobKind) -> Self {
        self.kind = kind;
        self
    }
}

impl<F> HostedJob for JobFn<F>
where
    F: Fn(watch::Receiver<bool>) -> BoxFuture<'static, JobResult> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult> {
        (self.f)(shutdown)
    }

    fn kind(&self) -> JobKind {
        self.kind
    }
}

/// A host's state as reported by [`GetHostStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    /// The job's name.
    pub name: String,
    /// What kind of job it is.
    pub kind: JobKind,
    /// Whether a run is in progress right now.
    pub running: bool,
    /// How many times the job was restarted after a failure since the host started.
    pub restarts: u64,
    /// Why the most recent failed run ended.
    pub last_error: Option<String>,
    /// True once a graceful shutdown was requested; the job is not restarted after that.
    pub stopped: bool,
    /// True once a [`JobKind::Task`] has ended, done or given up on.
    pub finished: bool,
    /// The job's own report ([`HostedJob::report`]).
    pub detail: Option<serde_json::Value>,
}

/// Asks a [`ProjectorHost`] for its [`HostStatus`].
#[derive(Message)]
#[rtype(result = "HostStatus")]
pub struct GetHostStatus;

/// The run in progress.
struct Run {
    generation: u64,
    started: Instant,
    abort: AbortHandle,
}

impl HostStatus {
    /// Whether the job is down when it should be running: a job that lives with the node, not
    /// running (failed and waiting for its restart) and not stopped on purpose.
    pub fn is_down(&self) -> bool {
        self.kind.lives_with_node() && !self.running && !self.stopped
    }
}

/// Runs one [`HostedJob`] and restarts it with exponential backoff when it fails or panics.
pub struct ProjectorHost {
    job: Arc<dyn HostedJob>,
    name: String,
    kind: JobKind,
    policy: RestartPolicy,
    backoff: Backoff,
    restarts: u64,
    last_error: Option<String>,
    run: Option<Run>,
    generation: u64,
    shutdown: watch::Sender<bool>,
    stopping: bool,
    /// Set once a task has ended for good; its supervisor may then let the host go.
    finished: Arc<AtomicBool>,
    /// Graceful shutdowns waiting for the current run to end.
    waiters: Vec<oneshot::Sender<()>>,
}

impl ProjectorHost {
    /// A host for `job`; start it with `actix::Supervisor::start(|_| host)` or `.start()`.
    pub fn new(job: Arc<dyn HostedJob>, policy: RestartPolicy) -> Self {
        let name = job.name().to_owned();
        let kind = job.kind();
        Self {
            job,
            name,
            kind,
            backoff: Backoff::new(policy.clone()),
            policy,
            restarts: 0,
            last_error: None,
            run: None,
            generation: 0,
            shutdown: watch::channel(false).0,
            stopping: false,
            finished: Arc::new(AtomicBool::new(false)),
            waiters: Vec::new(),
        }
    }

    /// A flag raised once the hosted task has ended for good (never, for jobs that live with
    /// the node); read it to know when the host may be let go.
    pub fn finished_flag(&self) -> Arc<AtomicBool> {
        self.finished.clone()
    }

    fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn spawn_run(&mut self, ctx: &mut Context<Self>) {
        if self.stopping || self.run.is_some() || self.is_finished() {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let job = self.job.clone();
        let shutdown = self.shutdown.subscribe();
        // The job's own code (even building its future) runs inside the task, so a panic
        // anywhere in it is caught by tokio and reported through the JoinHandle.
        let handle = tokio::spawn(async move { job.run(shutdown).await });
        self.run = Some(Run {
            generation,
            started: Instant::now(),
            abort: handle.abort_handle(),
        });
        tracing::info!(job = %self.name, generation, "job run started");
        ctx.spawn(
            handle
                .into_actor(self)
                .map(move |result, act, ctx| act.on_run_ended(generation, result, ctx)),
        );
    }

    fn on_run_ended(
        &mut self,
        generation: u64,
        result: Result<JobResult, JoinError>,
        ctx: &mut Context<Self>,
    ) {
        let ran_for = match &self.run {
            Some(run) if run.generation == generation => run.started.elapsed(),
            // A run from before a supervisor restart; its successor is already tracked.
            _ => return,
        };
        self.run = None;
        let failure = match result {
            Ok(Ok(())) if self.stopping => None,
            Ok(Ok(())) if !self.kind.lives_with_node() => {
                tracing::info!(job = %self.name, "task done");
                self.finished.store(true, Ordering::Release);
                return;
            }
            Ok(Ok(())) => Some("the job returned without being asked to stop".to_owned()),
            Ok(Err(e)) => Some(e),
            Err(e) if e.is_panic() => Some(format!("panicked: {}", panic_message(e.into_panic()))),
            Err(_) if self.stopping => None,
            Err(_) => Some("the job's task was cancelled".to_owned()),
        };
        if self.stopping {
            if let Some(error) = &failure {
                tracing::warn!(job = %self.name, %error, "job failed while stopping");
            } else {
                tracing::info!(job = %self.name, "job stopped");
            }
            for waiter in self.waiters.drain(..) {
                let _ = waiter.send(());
            }
            return;
        }
        let error = failure.unwrap_or_default();
        if !self.kind.lives_with_node() && self.restarts + 1 >= TASK_RUNS {
            tracing::error!(job = %self.name, %error, runs = self.restarts + 1, "task failed; giving up");
            self.job.gave_up(&error);
            self.last_error = Some(error);
            self.finished.store(true, Ordering::Release);
            return;
        }
        let delay = self.backoff.delay_after(ran_for);
        tracing::error!(
            job = %self.name,
            %error,
            ran_for_ms = duration_ms(ran_for),
            restart_in_ms = duration_ms(delay),
            restarts = self.restarts,
            "job failed; restarting after backoff"
        );
        self.last_error = Some(error);
        ctx.run_later(delay, |act, ctx| {
            if act.stopping || act.run.is_some() || act.is_finished() {
                return;
            }
            act.restarts += 1;
            act.spawn_run(ctx);
        });
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The text of a panic payload (`panic!` carries a `&str` or a `String`).
pub fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl Actor for ProjectorHost {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.spawn_run(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // Not a graceful shutdown (the system is going down): ask the job to stop, and make
        // sure it cannot outlive its host by more than the grace period.
        self.shutdown.send_replace(true);
        if let Some(run) = self.run.take() {
            let grace = self.policy.shutdown_grace;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    tokio::time::sleep(grace).await;
                    run.abort.abort();
                });
            } else {
                run.abort.abort();
            }
        }
    }
}

impl actix::Supervised for ProjectorHost {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The old context's watcher of the run is gone with it, so the run cannot be
        // observed any more: end it, and `started` begins a fresh one.
        if let Some(run) = self.run.take() {
            run.abort.abort();
        }
        // `stopped` raised the shutdown flag for the old run; the new one starts with it down.
        self.shutdown = watch::channel(false).0;
        tracing::warn!(job = %self.name, "job host restarted by its supervisor");
    }
}

impl Handler<GetHostStatus> for ProjectorHost {
    type Result = MessageResult<GetHostStatus>;

    fn handle(&mut self, _: GetHostStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(HostStatus {
            name: self.name.clone(),
            kind: self.kind,
            running: self.run.is_some(),
            restarts: self.restarts,
            last_error: self.last_error.clone(),
            stopped: self.stopping,
            finished: self.is_finished(),
            detail: self.job.report(),
        })
    }
}

impl Handler<Shutdown> for ProjectorHost {
    type Result = ResponseFuture<()>;

    /// Asks the job to stop and waits for it (up to the grace period, then aborts it). The host
    /// stays alive but idle, so a supervisor does not mistake the stop for a crash.
    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        self.shutdown.send_replace(true);
        let Some(run) = &self.run else {
            return Box::pin(async {});
        };
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        let abort = run.abort.clone();
        let grace = self.policy.shutdown_grace;
        let name = self.name.clone();
        Box::pin(async move {
            if tokio::time::timeout(grace, rx).await.is_err() {
                tracing::warn!(job = %name, "job did not stop in time; aborting it");
                abort.abort();
            }
        })
    }
}
