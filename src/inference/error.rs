//! Why interactive model work failed. Each door maps it to its own wire format.

use tessera_actors::jobs::StepError;
use tessera_actors::models::InferError;
use tessera_models::media::{MediaError, Modality as MediaModality};
use tessera_models::speech::SpeechError;

use crate::content::ContentFailure;

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The caller's quota refused the work, or the ledger could not be read.
    #[error(transparent)]
    Content(#[from] ContentFailure),
    /// The model instance refused or failed.
    #[error(transparent)]
    Infer(#[from] InferError),
    /// The model instance cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A pipeline step failed.
    #[error(transparent)]
    Step(#[from] StepError),
    /// The file could not be read as media.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The file is media, but not audio.
    #[error("the file is {modality} ({mime}), not audio")]
    NotAudio {
        modality: MediaModality,
        mime: String,
    },
    /// An input is longer than the model reads; nothing is cut silently.
    #[error(
        "input {index} is {tokens} tokens; this model reads at most {max} tokens per input \
         (split the text)"
    )]
    InputTooLong {
        index: usize,
        tokens: usize,
        max: usize,
    },
    /// This server has no encoder for the audio format asked for.
    #[error("this server cannot write {format}: {reason}")]
    NoEncoder {
        format: &'static str,
        reason: String,
    },
    /// Speech could not be encoded.
    #[error(transparent)]
    Speech(#[from] SpeechError),
    #[error("{0}")]
    Internal(String),
}

impl InferenceError {
    /// A failure of ours, with its cause for the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}
