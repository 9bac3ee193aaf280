//! `ProjectorHost`: keeps one long-running job (a projection's projector) alive.
//!
//! The job runs as its own tokio task so that a panic in projection code unwinds only that task:
//! the host sees it as a `JoinError`, logs it and restarts the job after a backoff. The host
//! itself never runs projection code on its own stack.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, JoinError};

use crate::backoff::{Backoff, RestartPolicy};
use crate::Shutdown;

/// What a job's run ends with: `Ok` only when it was asked to stop, otherwise the reason.
pub type JobResult = Result<(), String>;

/// Long-running work a [`ProjectorHost`] keeps alive, e.g. a projection's projector.
///
/// `run` is called once per (re)start and must return only when `shutdown` turns `true` (then
/// `Ok`) or on failure (`Err`). A run that returns `Ok` without being asked is treated as a failure
/// and restarted, because hosted jobs are meant to run for the life of the node.
pub trait HostedJob: Send + Sync + 'static {
    /// A stable name for logs and status (the projection's name).
    fn name(&self) -> &str;
    /// Starts one run of the job.
    fn run(&self, shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult>;
    /// What the job wants to show in [`HostStatus::detail`] (e.g. a projector's position).
    fn report(&self) -> Option<serde_json::Value> {
        None
    }
}

/// A [`HostedJob`] made of a name and a closure; handy for tests and small jobs.
pub struct JobFn<F> {
    name: String,
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
            f,
        }
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
}

/// A host's state as reported by [`GetHostStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    /// The job's name.
    pub name: String,
    /// Whether a run is in progress right now.
    pub running: bool,
    /// How many times the job was restarted after a failure since the host started.
    pub restarts: u64,
    /// Why the most recent failed run ended.
    pub last_error: Option<String>,
    /// True once a graceful shutdown was requested; the job is not restarted after that.
    pub stopped: bool,
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

/// Runs one [`HostedJob`] and restarts it with exponential backoff when it fails or panics.
pub struct ProjectorHost {
    job: Arc<dyn HostedJob>,
    name: String,
    policy: RestartPolicy,
    backoff: Backoff,
    restarts: u64,
    last_error: Option<String>,
    run: Option<Run>,
    generation: u64,
    shutdown: watch::Sender<bool>,
    stopping: bool,
    /// Graceful shutdowns waiting for the current run to end.
    waiters: Vec<oneshot::Sender<()>>,
}

impl ProjectorHost {
    /// A host for `job`; start it with `actix::Supervisor::start(|_| host)` or `.start()`.
    pub fn new(job: Arc<dyn HostedJob>, policy: RestartPolicy) -> Self {
        let name = job.name().to_owned();
        Self {
            job,
            name,
            backoff: Backoff::new(policy.clone()),
            policy,
            restarts: 0,
            last_error: None,
            run: None,
            generation: 0,
            shutdown: watch::channel(false).0,
            stopping: false,
            waiters: Vec::new(),
        }
    }

    fn spawn_run(&mut self, ctx: &mut Context<Self>) {
        if self.stopping || self.run.is_some() {
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
        tracing::info!(projection = %self.name, generation, "projector run started");
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
            Ok(Ok(())) => Some("the job returned without being asked to stop".to_owned()),
            Ok(Err(e)) => Some(e),
            Err(e) if e.is_panic() => Some(format!("panicked: {}", panic_message(e.into_panic()))),
            Err(_) if self.stopping => None,
            Err(_) => Some("the job's task was cancelled".to_owned()),
        };
        if self.stopping {
            if let Some(error) = &failure {
                tracing::warn!(projection = %self.name, %error, "projector failed while stopping");
            } else {
                tracing::info!(projection = %self.name, "projector stopped");
            }
            for waiter in self.waiters.drain(..) {
                let _ = waiter.send(());
            }
            return;
        }
        let error = failure.unwrap_or_default();
        let delay = self.backoff.delay_after(ran_for);
        tracing::error!(
            projection = %self.name,
            %error,
            ran_for_ms = duration_ms(ran_for),
            restart_in_ms = duration_ms(delay),
            restarts = self.restarts,
            "projector failed; restarting after backoff"
        );
        self.last_error = Some(error);
        ctx.run_later(delay, |act, ctx| {
            if act.stopping || act.run.is_some() {
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
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
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
        tracing::warn!(projection = %self.name, "projector host restarted by its supervisor");
    }
}

impl Handler<GetHostStatus> for ProjectorHost {
    type Result = MessageResult<GetHostStatus>;

    fn handle(&mut self, _: GetHostStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(HostStatus {
            name: self.name.clone(),
            running: self.run.is_some(),
            restarts: self.restarts,
            last_error: self.last_error.clone(),
            stopped: self.stopping,
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
                tracing::warn!(projection = %name, "projector did not stop in time; aborting it");
                abort.abort();
            }
        })
    }
}
