//! `JobDispatcher`: leases due jobs, runs each attempt on its modality's worker while keeping
//! the lease alive, and records the outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use sqlx::PgPool;
use tessera_events::aggregate::{self, Aggregate};
use tessera_events::content::{
    content_stream, usage_stream, Analysis, Content, ContentCommand, ContentError, Ledger,
    LedgerCommand,
};
use tessera_events::jobs::{job_stream, Job, JobCommand, JobEvent, JobRequested};
use tessera_events::{AppendRequest, CommandContext, EventStore, ExpectedVersion, JobId, StreamId};
use tessera_projections::read_models::jobs::{self as rm_jobs, Lease};

use super::pipelines::ProgressSink;
use super::worker::{JobOutput, ModalityWorker, RunJob};
use super::StepError;
use crate::Shutdown;
use tessera_events::ErrorCode;

/// How the dispatcher leases, retries and gives up.
#[derive(Debug, Clone)]
pub struct DispatcherOptions {
    /// This node's id, recorded on every attempt.
    pub node: String,
    /// How often to look for due jobs.
    pub poll: Duration,
    /// How long a lease lasts without a heartbeat.
    pub lease_ttl: Duration,
    /// Jobs this node runs at once.
    pub slots: usize,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub backoff: Duration,
    /// The longest one attempt may run.
    pub attempt_timeout: Duration,
}

impl DispatcherOptions {
    pub fn new(node: impl Into<String>) -> Self {
        DispatcherOptions {
            node: node.into(),
            poll: Duration::from_millis(500),
            lease_ttl: Duration::from_secs(30),
            slots: 2,
            max_attempts: 3,
            backoff: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(1800),
        }
    }
}

/// What the dispatcher reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DispatcherStatus {
    pub running: usize,
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub lost_leases: u64,
}

#[derive(Message)]
#[rtype(result = "DispatcherStatus")]
pub struct GetDispatcherStatus;

/// The node's job dispatcher.
pub struct JobDispatcher {
    pool: PgPool,
    store: Arc<dyn EventStore>,
    options: DispatcherOptions,
    workers: HashMap<String, Addr<ModalityWorker>>,
    status: DispatcherStatus,
    leasing: bool,
    stopping: bool,
}

enum Finished {
    Succeeded,
    Failed,
    LeaseLost,
    Skipped,
}

impl JobDispatcher {
    /// `workers` maps a modality (`text`, `image`, `audio`, `video`) to its worker; jobs of
    /// other modalities are left for nodes that have one.
    pub fn new(
        pool: PgPool,
        store: Arc<dyn EventStore>,
        options: DispatcherOptions,
        workers: HashMap<String, Addr<ModalityWorker>>,
    ) -> Self {
        JobDispatcher {
            pool,
            store,
            options,
            workers,
            status: DispatcherStatus::default(),
            leasing: false,
            stopping: false,
        }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.leasing || self.stopping || self.status.running >= self.options.slots {
            return;
        }
        self.leasing = true;
        let free = (self.options.slots - self.status.running) as i64;
        let pool = self.pool.clone();
        let node = self.options.node.clone();
        let ttl = self.options.lease_ttl;
        let modalities: Vec<String> = self.workers.keys().cloned().collect();
        let lease = async move { rm_jobs::lease(&pool, &node, free, ttl, &modalities).await };
        ctx.spawn(lease.into_actor(self).map(|leased, act, ctx| {
            act.leasing = false;
            let leases = match leased {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "could not lease jobs");
                    return;
                }
            };
            for lease in leases {
                act.status.running += 1;
                let run = run_attempt(
                    act.pool.clone(),
                    act.store.clone(),
                    act.options.clone(),
                    act.workers.clone(),
                    lease,
                );
                ctx.spawn(run.into_actor(act).map(|finished, act, ctx| {
                    act.status.running -= 1;
                    match finished {
                        Finished::Succeeded => {
                            act.status.started += 1;
                            act.status.succeeded += 1;
                        }
                        Finished::Failed => {
                            act.status.started += 1;
                            act.status.failed += 1;
                        }
                        Finished::LeaseLost => act.status.lost_leases += 1,
                        Finished::Skipped => {}
                    }
                    // A slot is free: look for more at once.
                    act.poll(ctx);
                }));
            }
        }));
    }
}

impl Actor for JobDispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.options.poll, |act, ctx| act.poll(ctx));
    }
}

impl Handler<GetDispatcherStatus> for JobDispatcher {
    type Result = MessageResult<GetDispatcherStatus>;

    fn handle(&mut self, _: GetDispatcherStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status.clone())
    }
}

impl Handler<Shutdown> for JobDispatcher {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {
        // Running attempts finish (or their leases expire); nothing new is leased.
        self.stopping = true;
    }
}

fn ctx_for(node: &str) -> CommandContext {
    let mut c = CommandContext::new(None);
    c.metadata.node = Some(node.to_owned());
    c
}

fn expected(version: u64) -> ExpectedVersion {
    if version == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(version)
    }
}

/// One attempt of one leased job, start to end.
async fn run_attempt(
    pool: PgPool,
    store: Arc<dyn EventStore>,
    options: DispatcherOptions,
    workers: HashMap<String, Addr<ModalityWorker>>,
    lease: Lease,
) -> Finished {
    let finished = attempt(&pool, &store, &options, &workers, &lease).await;
    let finished = finished.unwrap_or_else(|e| {
        tracing::warn!(job = %lease.job_id, error = %e, "job attempt could not be recorded");
        Finished::Skipped
    });
    if let Err(e) = rm_jobs::release(&pool, &lease).await {
        tracing::debug!(job = %lease.job_id, error = %e, "lease not released; it will expire");
    }
    finished
}

async fn attempt(
    pool: &PgPool,
    store: &Arc<dyn EventStore>,
    options: &DispatcherOptions,
    workers: &HashMap<String, Addr<ModalityWorker>>,
    lease: &Lease,
) -> Result<Finished, String> {
    let stream = job_stream(lease.job_id);
    let job = aggregate::load::<Job>(store.as_ref(), &stream)
        .await
        .map_err(|e| e.to_string())?;
    let Some(request) = job.state.request.clone() else {
        return Ok(Finished::Skipped);
    };
    if job.state.status.is_final() {
        return Ok(Finished::Skipped);
    }
    let c = ctx_for(&options.node);
    // A job whose workers keep dying (a crash, an OOM kill) is not leased forever.
    if job.state.attempts >= options.max_attempts {
        let events = vec![JobEvent::DeadLettered {
            attempts: job.state.attempts,
            code: ErrorCode::AttemptsExhausted.as_str().to_owned(),
            reason: format!(
                "{} attempts started and none finished (the worker was lost each time)",
                job.state.attempts
            ),
        }];
        let failure = StepError::transient(
            ErrorCode::AttemptsExhausted,
            "every attempt was lost before it finished",
        );
        let on_item = Some(Err((lease.job_id, failure)));
        append_outcome(
            store,
            &c,
            &stream,
            job.version,
            events,
            &request,
            on_item,
            0,
        )
        .await?;
        return Ok(Finished::Failed);
    }
    let started = job
        .state
        .decide(JobCommand::Start {
            node: options.node.clone(),
        })
        .map_err(|e| e.to_string())?;
    let attempt_no = job.state.attempts + 1;
    // Each append its own command (event ids derive from the command id).
    let data = ctx_for(&options.node)
        .to_event_data(&stream, &started, Some(request.owner))
        .map_err(|e| e.to_string())?;
    match store.append(&stream, expected(job.version), data).await {
        Ok(_) => {}
        Err(e) if e.is_concurrency_conflict() => return Ok(Finished::LeaseLost),
        Err(e) => return Err(e.to_string()),
    }
    tracing::info!(job = %lease.job_id, content = %request.content_id, attempt = attempt_no, modality = request.modality.as_str(), "job started");
    let t0 = std::time::Instant::now();
    let outcome = run_with_lease(pool, store, options, workers, lease, &request, attempt_no).await;
    let processing_ms = t0.elapsed().as_millis() as u64;
    let Some(outcome) = outcome else {
        tracing::warn!(job = %lease.job_id, "lease lost; another node will run the job");
        return Ok(Finished::LeaseLost);
    };
    let c = ctx_for(&options.node);
    // Fold again: progress events moved the stream.
    let job = aggregate::load::<Job>(store.as_ref(), &stream)
        .await
        .map_err(|e| e.to_string())?;
    match outcome {
        Ok(analysis) => {
            let provenance = analysis.provenance().to_vec();
            let metered: u64 = provenance
                .iter()
                .filter(|p| !p.cached)
                .map(|p| p.run_ms)
                .sum();
            let events = job
                .state
                .decide(JobCommand::Succeed {
                    attempt: attempt_no,
                    processing_ms,
                    provenance,
                })
                .map_err(|e| e.to_string())?;
            append_outcome(
                store,
                &c,
                &stream,
                job.version,
                events,
                &request,
                Some(Ok((lease.job_id, analysis))),
                metered,
            )
            .await?;
            tracing::info!(job = %lease.job_id, ms = processing_ms, "job succeeded");
            Ok(Finished::Succeeded)
        }
        Err(failure) => {
            let backoff = options.backoff * 2u32.saturating_pow(attempt_no.saturating_sub(1));
            let retry_at = Utc::now()
                + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::seconds(60));
            let events = job
                .state
                .decide(JobCommand::Fail {
                    attempt: attempt_no,
                    code: failure.code.as_str().to_owned(),
                    reason: failure.message.clone(),
                    retry_at,
                    max_attempts: options.max_attempts,
                    permanent: failure.permanent,
                })
                .map_err(|e| e.to_string())?;
            let dead = events
                .iter()
                .any(|e| matches!(e, JobEvent::DeadLettered { .. }));
            tracing::warn!(job = %lease.job_id, code = %failure.code, reason = %failure.message, dead, "job attempt failed");
            let on_item = dead.then_some(Err((lease.job_id, failure)));
            append_outcome(
                store,
                &c,
                &stream,
                job.version,
                events,
                &request,
                on_item,
                // A failed attempt is not charged to the owner.
                0,
            )
            .await?;
            Ok(Finished::Failed)
        }
    }
}

/// Runs the worker while heartbeating the lease; `None` when the lease was lost.
async fn run_with_lease(
    pool: &PgPool,
    store: &Arc<dyn EventStore>,
    options: &DispatcherOptions,
    workers: &HashMap<String, Addr<ModalityWorker>>,
    lease: &Lease,
    request: &JobRequested,
    attempt_no: u32,
) -> Option<JobOutput> {
    let Some(worker) = workers.get(request.modality.as_str()) else {
        return Some(Err(StepError::transient(
            ErrorCode::NoWorker,
            "this node has no worker for the modality",
        )));
    };
    let progress = ProgressSink::new(store.clone(), lease.job_id, attempt_no, request.owner);
    let work = worker.send(RunJob {
        request: request.clone(),
        progress,
    });
    let work = tokio::time::timeout(options.attempt_timeout, work);
    tokio::pin!(work);
    let mut beat = tokio::time::interval(options.lease_ttl / 3);
    beat.tick().await;
    loop {
        tokio::select! {
            done = &mut work => {
                return Some(match done {
                    Ok(Ok(output)) => output,
                    Ok(Err(e)) => Err(StepError::internal(format!("the worker is gone: {e}"))),
                    Err(_) => Err(StepError::transient(
                        ErrorCode::Timeout,
                        format!("the attempt ran past {} s", options.attempt_timeout.as_secs()),
                    )),
                });
            }
            _ = beat.tick() => {
                match rm_jobs::heartbeat(pool, lease, options.lease_ttl).await {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => tracing::warn!(job = %lease.job_id, error = %e, "heartbeat failed"),
                }
            }
        }
    }
}

/// Appends the job's outcome and, when there is one, the item's analysis (or its failure) in
/// one atomic append, with the processing time on the owner's usage ledger. An item deleted for
/// good meanwhile gets nothing; the job still ends.
#[allow(clippy::too_many_arguments)]
async fn append_outcome(
    store: &Arc<dyn EventStore>,
    c: &CommandContext,
    stream: &StreamId,
    version: u64,
    events: Vec<JobEvent>,
    request: &JobRequested,
    on_item: Option<Result<(JobId, Analysis), (JobId, StepError)>>,
    metered_ms: u64,
) -> Result<(), String> {
    for _ in 0..5 {
        let mut requests = vec![AppendRequest {
            stream: stream.clone(),
            expected: expected(version),
            events: c
                .to_event_data(stream, &events, Some(request.owner))
                .map_err(|e| e.to_string())?,
        }];
        if let Some(item) = &on_item {
            let cs = content_stream(request.content_id);
            let content = aggregate::load::<Content>(store.as_ref(), &cs)
                .await
                .map_err(|e| e.to_string())?;
            let command = match item {
                Ok((job_id, analysis)) => ContentCommand::RecordAnalysis {
                    job_id: *job_id,
                    analysis: Box::new(analysis.clone()),
                },
                Err((job_id, f)) => ContentCommand::RecordAnalysisFailure {
                    job_id: *job_id,
                    code: f.code.as_str().to_owned(),
                    message: f.message.clone(),
                },
            };
            match content.state.decide(command) {
                Ok(item_events) if !item_events.is_empty() => requests.push(AppendRequest {
                    events: c
                        .to_event_data(&cs, &item_events, Some(request.owner))
                        .map_err(|e| e.to_string())?,
                    stream: cs,
                    expected: expected(content.version),
                }),
                Ok(_) | Err(ContentError::NotFound) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if metered_ms > 0 {
            // The owner's processing time: what the models actually ran (cached results are free).
            let us = usage_stream(request.owner);
            let ledger = Ledger::load(store.as_ref(), &us)
                .await
                .map_err(|e| e.to_string())?;
            let usage = ledger
                .state
                .decide(LedgerCommand::RecordProcessing {
                    content_id: Some(request.content_id),
                    modality: request.modality,
                    processing_ms: metered_ms,
                    today: Utc::now().date_naive(),
                })
                .map_err(|e| e.to_string())?;
            requests.push(AppendRequest {
                events: c
                    .to_event_data(&us, &usage, Some(request.owner))
                    .map_err(|e| e.to_string())?,
                stream: us,
                expected: expected(ledger.version),
            });
        }
        match store.append_many(requests).await {
            Ok(_) => return Ok(()),
            // The item or the ledger changed under us: fold them again.
            Err(e) if e.is_concurrency_conflict() => {
                let now = aggregate::load::<Job>(store.as_ref(), stream)
                    .await
                    .map_err(|e| e.to_string())?;
                if now.version != version {
                    return Err("the job moved on (its lease was taken over)".into());
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("the item kept changing".into())
}
