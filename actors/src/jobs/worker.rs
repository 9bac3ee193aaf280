//! `ModalityWorker`: runs the pipeline of one modality for the jobs the dispatcher hands it, a
//! bounded number at a time.

use std::sync::Arc;

use actix::prelude::*;
use tessera_events::content::Analysis;
use tessera_events::jobs::JobRequested;
use tokio::sync::Semaphore;

use super::pipelines::{Pipelines, ProgressSink};
use super::StepError;

/// Runs one job's pipeline.
pub struct RunJob {
    pub request: JobRequested,
    pub progress: ProgressSink,
}

/// The analysis, with the provenance of every step.
pub type JobOutput = Result<Analysis, StepError>;

impl Message for RunJob {
    type Result = JobOutput;
}

/// The worker of one modality.
pub struct ModalityWorker {
    modality: &'static str,
    pipelines: Arc<Pipelines>,
    slots: Arc<Semaphore>,
}

impl ModalityWorker {
    pub fn new(modality: &'static str, pipelines: Arc<Pipelines>, concurrency: usize) -> Self {
        ModalityWorker {
            modality,
            pipelines,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }
}

impl Actor for ModalityWorker {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        tracing::debug!(modality = self.modality, "modality worker started");
    }
}

impl Handler<RunJob> for ModalityWorker {
    type Result = ResponseFuture<JobOutput>;

    fn handle(&mut self, msg: RunJob, _: &mut Context<Self>) -> Self::Result {
        let pipelines = self.pipelines.clone();
        let slots = self.slots.clone();
        Box::pin(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .map_err(|_| StepError::internal("worker stopped"))?;
            pipelines.run(&msg.request, &msg.progress).await
        })
    }
}
