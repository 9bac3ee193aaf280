//! Processing jobs: the [`JobDispatcher`] leases due jobs from the jobs read model (any node may
//! run one; `FOR UPDATE SKIP LOCKED` keeps two from taking the same job), records each attempt,
//! keeps the lease alive while a [`ModalityWorker`] runs the item's pipeline, and records the
//! outcome: the analysis on the item's stream and `job.succeeded` in one append, or a failure
//! that is retried with backoff and dead-lettered after the last attempt.

pub mod cache;
pub mod dispatcher;
pub mod pipelines;
pub mod worker;

pub use cache::{cached, ModelInfo};
pub use dispatcher::{DispatcherOptions, DispatcherStatus, GetDispatcherStatus, JobDispatcher};
pub use pipelines::{count_tokens, MediaSource, Pipelines, ProgressSink};
pub use worker::{ModalityWorker, RunJob};

use tessera_events::ErrorCode;

/// Why a pipeline step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StepError {
    /// A stable code (`corrupt_video`, `model_busy`, ...).
    pub code: ErrorCode,
    pub message: String,
    /// True when trying again cannot help (the input itself is bad).
    pub permanent: bool,
}

impl StepError {
    /// A failure of the input: not retried.
    pub fn bad_input(code: ErrorCode, message: impl Into<String>) -> Self {
        StepError {
            code,
            message: message.into(),
            permanent: true,
        }
    }

    /// A failure worth retrying.
    pub fn transient(code: ErrorCode, message: impl Into<String>) -> Self {
        StepError {
            code,
            message: message.into(),
            permanent: false,
        }
    }

    /// Something of ours went wrong: retried.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::transient(ErrorCode::Internal, message)
    }
}

impl From<crate::models::InferError> for StepError {
    fn from(e: crate::models::InferError) -> Self {
        StepError {
            code: e.code(),
            permanent: !e.is_transient(),
            message: e.to_string(),
        }
    }
}
