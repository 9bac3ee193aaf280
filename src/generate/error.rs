//! Why a generation failed, and its mapping to HTTP.

use actix_web::http::StatusCode;
use tessera_actors::jobs::StepError;
use tessera_actors::HasErrorCode;
use tessera_events::content::{GenerationKind, Modality};
use tessera_models::speech::SpeechError;

use crate::content::ContentFailure;
use crate::error::{ApiError, ErrorCode};
use crate::inference::InferenceError;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A field of the request is wrong.
    #[error("{message}")]
    Invalid {
        field: String,
        code: ErrorCode,
        message: String,
    },
    /// The source item is of a kind this generation does not take.
    #[error("a {} cannot be made from a {} item: {reason}", .kind.as_str(), .modality.as_str())]
    UnsupportedSource {
        kind: GenerationKind,
        modality: Modality,
        reason: &'static str,
    },
    #[error("no speech was heard in the source")]
    NoSpeech,
    #[error("the source has nothing to summarise")]
    NothingToSummarise,
    #[error(
        "the recording is {seconds:.0} s long, over the {limit:.0} s worked on in a request; \
         try again once its analysis is ready"
    )]
    AnalysisPending { seconds: f64, limit: f64 },
    #[error(transparent)]
    Content(#[from] ContentFailure),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error(transparent)]
    Speech(#[from] SpeechError),
    #[error("{0}")]
    Internal(String),
}

impl GenerateError {
    pub fn invalid(field: &str, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }

    pub fn unsupported(kind: GenerationKind, modality: Modality, reason: &'static str) -> Self {
        Self::UnsupportedSource {
            kind,
            modality,
            reason,
        }
    }
}

impl From<InferenceError> for GenerateError {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::Content(c) => Self::Content(c),
            InferenceError::Step(s) => Self::Step(s),
            InferenceError::Speech(s) => Self::Speech(s),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<tessera_events::content::ContentError> for GenerateError {
    fn from(e: tessera_events::content::ContentError) -> Self {
        Self::Content(e.into())
    }
}

/// Stable codes of model-step failures; others are reported as `generation_failed`.
fn step_code(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::ModelBusy
        | ErrorCode::ModelUnavailable
        | ErrorCode::ModelCrashed
        | ErrorCode::ModelStopped
        | ErrorCode::TextTooLong
        | ErrorCode::NothingToSay => code,
        _ => ErrorCode::GenerationFailed,
    }
}

impl From<GenerateError> for ApiError {
    fn from(e: GenerateError) -> Self {
        let message = e.to_string();
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match e {
            GenerateError::Invalid { field, code, .. } => {
                ApiError::new(unprocessable, code, message).with_field(field)
            }
            GenerateError::UnsupportedSource { .. } => {
                ApiError::new(unprocessable, ErrorCode::UnsupportedSource, message)
                    .with_field("content_id")
            }
            GenerateError::NoSpeech => ApiError::new(unprocessable, ErrorCode::NoSpeech, message),
            GenerateError::NothingToSummarise => {
                ApiError::new(unprocessable, ErrorCode::NothingToSummarise, message)
            }
            GenerateError::AnalysisPending { .. } => {
                ApiError::conflict(ErrorCode::AnalysisPending, message)
            }
            GenerateError::Content(c) => c.into(),
            GenerateError::Step(s) => {
                let code = step_code(s.code);
                if s.permanent {
                    ApiError::new(unprocessable, code, s.message)
                } else if code == ErrorCode::GenerationFailed {
                    ApiError::internal(format!("{}: {}", s.code, s.message))
                } else {
                    tracing::warn!(code = %s.code, message = %s.message, "a generation's model step failed");
                    ApiError::unavailable(code, s.message).with_retry_after(5)
                }
            }
            GenerateError::Speech(s) if s.is_client_error() => {
                ApiError::new(unprocessable, s.error_code(), message)
            }
            GenerateError::Speech(s) => ApiError::internal(s),
            GenerateError::Internal(m) => ApiError::internal(m),
        }
    }
}
