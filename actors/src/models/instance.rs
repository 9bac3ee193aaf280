//! `ModelInstance`: one model of the registry. It loads the model lazily on its own inference
//! thread (a one-thread `SyncArbiter`, so inference never runs on the async loop), collects
//! requests into batches (up to the model's batch size, or whatever arrived within the batch
//! window), answers "busy" instead of queueing without bound, unloads after an idle time or when
//! the registry needs the memory, and reloads after a crash (a panic inside the model is caught
//! and turns into an error for that batch; the next request loads a fresh copy).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tessera_events::ErrorCode;
use tessera_models::runtime::{InputFault, Model, RuntimeError};

use crate::error_codes::HasErrorCode;
use tokio::sync::{oneshot, Semaphore};

/// Builds the model; called on the inference thread at first use and after every unload.
pub type Loader<M> = Arc<dyn Fn() -> Result<M, RuntimeError> + Send + Sync>;

/// Why a request got no answer from the model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InferError {
    #[error("model {model} is busy ({queued} requests waiting); try again later")]
    Busy { model: String, queued: usize },
    #[error("model {model} could not be loaded: {message}")]
    Load { model: String, message: String },
    #[error("model {model} crashed: {message}")]
    Crashed { model: String, message: String },
    #[error("{0}")]
    Runtime(String),
    /// The model refused the request's input; the caller can fix it.
    #[error("{message}")]
    Rejected { fault: InputFault, message: String },
    #[error("model {0} is stopped")]
    Stopped(String),
}

impl From<RuntimeError> for InferError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Rejected { fault, message, .. } => {
                InferError::Rejected { fault, message }
            }
            other => InferError::Runtime(other.to_string()),
        }
    }
}

impl InferError {
    /// A stable code for APIs and job failures.
    pub fn code(&self) -> ErrorCode {
        match self {
            InferError::Busy { .. } => ErrorCode::ModelBusy,
            InferError::Load { .. } => ErrorCode::ModelUnavailable,
            InferError::Crashed { .. } => ErrorCode::ModelCrashed,
            InferError::Runtime(_) => ErrorCode::InferenceFailed,
            InferError::Rejected { fault, .. } => fault.error_code(),
            InferError::Stopped(_) => ErrorCode::ModelStopped,
        }
    }

    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        !matches!(self, InferError::Runtime(_) | InferError::Rejected { .. })
    }
}

/// How an instance batches, queues and idles.
#[derive(Debug, Clone)]
pub struct InstanceOptions {
    /// Requests waiting beyond this are refused with [`InferError::Busy`].
    pub max_queue: usize,
    /// How long the first request of a batch waits for company (zero: no waiting).
    pub batch_window: Duration,
    /// Unload after this long without a request.
    pub idle_unload: Duration,
    /// Estimated resident memory once loaded, for the registry's budget.
    pub memory_mb: u64,
}

impl Default for InstanceOptions {
    fn default() -> Self {
        InstanceOptions {
            max_queue: 256,
            batch_window: Duration::ZERO,
            idle_unload: Duration::from_secs(300),
            memory_mb: 100,
        }
    }
}

// ------------------------------------------------------------------ the inference thread

struct InferenceThread<M: Model> {
    name: String,
    loader: Loader<M>,
    /// Boxed so the actor is `Unpin` whatever the model is.
    model: Option<Box<M>>,
}

impl<M: Model> Actor for InferenceThread<M> {
    type Context = SyncContext<Self>;
}

impl<M: Model> InferenceThread<M> {
    /// Builds the model (a panic in the loader is an error too); the milliseconds it took.
    fn load(&mut self) -> Result<u64, InferError> {
        let started = Instant::now();
        let loader = self.loader.clone();
        let loaded = std::panic::catch_unwind(AssertUnwindSafe(|| loader()));
        let message = match loaded {
            Ok(Ok(m)) => {
                self.model = Some(Box::new(m));
                let ms = started.elapsed().as_millis() as u64;
                tracing::info!(model = %self.name, ms, "model loaded");
                return Ok(ms);
            }
            Ok(Err(e)) => e.to_string(),
            Err(panic) => panic_message(&panic),
        };
        Err(InferError::Load {
            model: self.name.clone(),
            message,
        })
    }
}

/// Outcome of one batch on the inference thread; `loaded_ms` is set when the batch had to load
/// the model first.
struct BatchOutcome<R> {
    results: Vec<Result<R, RuntimeError>>,
    loaded_ms: Option<u64>,
    max_batch: usize,
}

struct RunBatch<M: Model>(Vec<M::Request>);

impl<M: Model> Message for RunBatch<M> {
    type Result = Result<BatchOutcome<M::Response>, InferError>;
}

impl<M: Model> Handler<RunBatch<M>> for InferenceThread<M> {
    type Result = Result<BatchOutcome<M::Response>, InferError>;

    fn handle(&mut self, msg: RunBatch<M>, _: &mut SyncContext<Self>) -> Self::Result {
        let mut loaded_ms = None;
        if self.model.is_none() {
            loaded_ms = Some(self.load()?);
        }
        let Some(model) = self.model.as_mut() else {
            return Err(InferError::Stopped(self.name.clone()));
        };
        let max_batch = model.max_batch().max(1);
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| model.run_batch(msg.0)));
        match run {
            Ok(results) => Ok(BatchOutcome {
                results,
                loaded_ms,
                max_batch,
            }),
            Err(panic) => {
                // A crashed model is dropped and loaded afresh on the next request.
                self.model = None;
                let message = panic_message(&panic);
                tracing::error!(model = %self.name, %message, "model crashed; it will be reloaded");
                Err(InferError::Crashed {
                    model: self.name.clone(),
                    message,
                })
            }
        }
    }
}

/// Loads the model if it is not in memory; the load's milliseconds, `None` when it already was.
struct LoadModel;

impl Message for LoadModel {
    type Result = Result<Option<u64>, InferError>;
}

impl<M: Model> Handler<LoadModel> for InferenceThread<M> {
    type Result = Result<Option<u64>, InferError>;

    fn handle(&mut self, _: LoadModel, _: &mut SyncContext<Self>) -> Self::Result {
        if self.model.is_some() {
            return Ok(None);
        }
        self.load().map(Some)
    }
}

struct Unload;

impl Message for Unload {
    type Result = bool;
}

impl<M: Model> Handler<Unload> for InferenceThread<M> {
    type Result = bool;

    fn handle(&mut self, _: Unload, _: &mut SyncContext<Self>) -> bool {
        let was = self.model.take().is_some();
        if was {
            tracing::info!(model = %self.name, "model unloaded");
        }
        was
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

// ------------------------------------------------------------------ the instance

/// One request for the model.
pub struct Infer<M: Model>(pub M::Request);

impl<M: Model> Message for Infer<M> {
    type Result = Result<M::Response, InferError>;
}

/// A queued request (boxed so the actor is `Unpin` whatever the request is) and its reply.
type Waiting<M> = (
    Box<<M as Model>::Request>,
    oneshot::Sender<Result<<M as Model>::Response, InferError>>,
);

/// What an instance reports about itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstanceStatus {
    pub model: String,
    pub loaded: bool,
    pub queued: usize,
    pub running: bool,
    pub batches: u64,
    pub requests: u64,
    pub largest_batch: usize,
    pub loads: u64,
    pub last_load_ms: Option<u64>,
    pub memory_mb: u64,
    pub idle_ms: u64,
}

/// Asks an instance for its [`InstanceStatus`].
#[derive(Message)]
#[rtype(result = "InstanceStatus")]
pub struct GetInstanceStatus;

/// Asks an instance to unload its model now if it is idle (the registry's memory budget).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct UnloadIfIdle;

/// Asks an instance to load its model now (an administrator's request): `Ok(true)` when it
/// loaded, `Ok(false)` when it already was in memory.
#[derive(Message)]
#[rtype(result = "Result<bool, InferError>")]
pub struct LoadNow;

/// The actor in front of one model.
pub struct ModelInstance<M: Model> {
    name: String,
    options: InstanceOptions,
    thread: Addr<InferenceThread<M>>,
    /// Caps how many inferences run at once across every model of the node.
    budget: Arc<Semaphore>,
    queue: VecDeque<Waiting<M>>,
    running: bool,
    flush_scheduled: bool,
    max_batch: usize,
    loaded: bool,
    last_used: Instant,
    batches: u64,
    requests: u64,
    largest_batch: usize,
    loads: u64,
    last_load_ms: Option<u64>,
    registry: Option<Addr<super::registry::ModelRegistry>>,
}

impl<M: Model> ModelInstance<M> {
    /// Starts an instance and its inference thread; nothing is loaded until the first request.
    pub fn start(
        name: impl Into<String>,
        loader: Loader<M>,
        options: InstanceOptions,
        budget: Arc<Semaphore>,
        registry: Option<Addr<super::registry::ModelRegistry>>,
    ) -> Addr<Self> {
        let name = name.into();
        let thread_name = name.clone();
        let thread = SyncArbiter::start(1, move || InferenceThread {
            name: thread_name.clone(),
            loader: loader.clone(),
            model: None,
        });
        ModelInstance {
            name,
            options,
            thread,
            budget,
            queue: VecDeque::new(),
            running: false,
            flush_scheduled: false,
            max_batch: 1,
            loaded: false,
            last_used: Instant::now(),
            batches: 0,
            requests: 0,
            largest_batch: 0,
            loads: 0,
            last_load_ms: None,
            registry,
        }
        .start()
    }

    /// The model is in memory now: count it and tell the registry, which keeps the budget.
    fn on_loaded(&mut self, ms: u64) {
        self.loaded = true;
        self.loads += 1;
        self.last_load_ms = Some(ms);
        if let Some(r) = &self.registry {
            r.do_send(super::registry::Loaded {
                model: self.name.clone(),
                memory_mb: self.options.memory_mb,
            });
        }
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.running || self.queue.is_empty() {
            return;
        }
        // Wait for company only while the batch is not full and the window is open.
        if self.queue.len() < self.max_batch
            && !self.options.batch_window.is_zero()
            && !self.flush_scheduled
            && self.max_batch > 1
        {
            self.flush_scheduled = true;
            ctx.run_later(self.options.batch_window, |act, ctx| {
                act.flush_scheduled = false;
                act.dispatch(ctx);
            });
            return;
        }
        if !self.flush_scheduled {
            self.dispatch(ctx);
        }
    }

    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        if self.running || self.queue.is_empty() {
            return;
        }
        let take = self.queue.len().min(self.max_batch.max(1));
        let (requests, replies): (Vec<_>, Vec<_>) = self
            .queue
            .drain(..take)
            .map(|(request, reply)| (*request, reply))
            .unzip();
        self.running = true;
        self.batches += 1;
        self.requests += requests.len() as u64;
        self.largest_batch = self.largest_batch.max(requests.len());
        let thread = self.thread.clone();
        let budget = self.budget.clone();
        let name = self.name.clone();
        let work = async move {
            let _permit = budget.acquire_owned().await.ok();
            thread
                .send(RunBatch::<M>(requests))
                .await
                .unwrap_or_else(|_| Err(InferError::Stopped(name)))
        };
        ctx.spawn(work.into_actor(self).map(move |outcome, act, ctx| {
            act.running = false;
            act.last_used = Instant::now();
            match outcome {
                Ok(out) => {
                    act.loaded = true;
                    act.max_batch = out.max_batch;
                    if let Some(ms) = out.loaded_ms {
                        act.on_loaded(ms);
                    }
                    let mut results = out.results.into_iter();
                    for reply in replies {
                        let r = results.next().unwrap_or_else(|| {
                            Err(RuntimeError::Output {
                                model: act.name.clone(),
                                message: "the batch returned too few results".into(),
                            })
                        });
                        let _ = reply.send(r.map_err(InferError::from));
                    }
                }
                Err(e) => {
                    if matches!(e, InferError::Crashed { .. }) {
                        act.loaded = false;
                    }
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            act.pump(ctx);
        }));
    }
}

impl<M: Model> Actor for ModelInstance<M> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(r) = &self.registry {
            let me = ctx.address();
            r.do_send(super::registry::Register {
                model: self.name.clone(),
                instance: super::registry::InstanceControls {
                    status: me.clone().recipient(),
                    load: me.clone().recipient(),
                    unload: me.recipient(),
                },
            });
        }
        let every = (self.options.idle_unload / 4).max(Duration::from_millis(250));
        ctx.run_interval(every, |act, _| {
            if act.loaded
                && !act.running
                && act.queue.is_empty()
                && act.last_used.elapsed() >= act.options.idle_unload
            {
                act.loaded = false;
                act.thread.do_send(Unload);
            }
        });
    }
}

impl<M: Model> Handler<Infer<M>> for ModelInstance<M> {
    type Result = ResponseFuture<Result<M::Response, InferError>>;

    fn handle(&mut self, msg: Infer<M>, ctx: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        if self.queue.len() >= self.options.max_queue {
            let err = InferError::Busy {
                model: self.name.clone(),
                queued: self.queue.len(),
            };
            return Box::pin(async move { Err(err) });
        }
        let (tx, rx) = oneshot::channel();
        self.queue.push_back((Box::new(msg.0), tx));
        self.pump(ctx);
        let name = self.name.clone();
        Box::pin(async move { rx.await.unwrap_or(Err(InferError::Stopped(name))) })
    }
}

impl<M: Model> Handler<GetInstanceStatus> for ModelInstance<M> {
    type Result = MessageResult<GetInstanceStatus>;

    fn handle(&mut self, _: GetInstanceStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(InstanceStatus {
            model: self.name.clone(),
            loaded: self.loaded,
            queued: self.queue.len(),
            running: self.running,
            batches: self.batches,
            requests: self.requests,
            largest_batch: self.largest_batch,
            loads: self.loads,
            last_load_ms: self.last_load_ms,
            memory_mb: self.options.memory_mb,
            idle_ms: self.last_used.elapsed().as_millis() as u64,
        })
    }
}

impl<M: Model> Handler<LoadNow> for ModelInstance<M> {
    type Result = ResponseActFuture<Self, Result<bool, InferError>>;

    fn handle(&mut self, _: LoadNow, _: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        let thread = self.thread.clone();
        let name = self.name.clone();
        Box::pin(
            async move {
                thread
                    .send(LoadModel)
                    .await
                    .unwrap_or(Err(InferError::Stopped(name)))
            }
            .into_actor(self)
            .map(|outcome, act, _| {
                act.last_used = Instant::now();
                let loaded_now = outcome?;
                match loaded_now {
                    Some(ms) => act.on_loaded(ms),
                    None => act.loaded = true,
                }
                Ok(loaded_now.is_some())
            }),
        )
    }
}

impl<M: Model> Handler<UnloadIfIdle> for ModelInstance<M> {
    type Result = bool;

    fn handle(&mut self, _: UnloadIfIdle, _: &mut Context<Self>) -> bool {
        if !self.loaded || self.running || !self.queue.is_empty() {
            return false;
        }
        self.loaded = false;
        self.thread.do_send(Unload);
        true
    }
}
