//! What can go wrong while loading a GGUF model or generating with it.

use crate::runtime::{InputFault, RuntimeError};

/// What can go wrong while loading a GGUF model or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    #[error("cannot start llama.cpp: {0}")]
    Backend(String),
    #[error("model file {path} is missing; run `tessera models fetch`")]
    ModelMissing { path: String },
    #[error("cannot load GGUF model {path}: {message}")]
    Load { path: String, message: String },
    #[error("the chat cannot be rendered: {0}")]
    InvalidMessages(String),
    #[error("invalid generation options: {0}")]
    InvalidOptions(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error(
        "the prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the context \
         window of {n_ctx} tokens"
    )]
    ContextExceeded {
        prompt_tokens: usize,
        max_tokens: usize,
        n_ctx: usize,
    },
    #[error("the input is {bytes} bytes; at most {limit} bytes fit the context window")]
    InputTooLarge { bytes: usize, limit: usize },
    #[error("cannot create a llama.cpp context of {n_ctx} tokens: {message}")]
    Context { n_ctx: usize, message: String },
    #[error("llama.cpp failed to decode: {0}")]
    Decode(String),
}

impl LlamaError {
    /// The caller's part in this failure, when the input rather than the runtime is at fault.
    pub fn input_fault(&self) -> Option<InputFault> {
        Some(match self {
            LlamaError::InvalidMessages(_) => InputFault::InvalidMessages,
            LlamaError::InvalidOptions(_) => InputFault::InvalidOptions,
            LlamaError::EmptyPrompt => InputFault::EmptyPrompt,
            LlamaError::ContextExceeded { .. } => InputFault::ContextExceeded,
            LlamaError::InputTooLarge { .. } => InputFault::InputTooLarge,
            _ => return None,
        })
    }
}

impl From<LlamaError> for RuntimeError {
    fn from(e: LlamaError) -> Self {
        if let Some(fault) = e.input_fault() {
            return RuntimeError::Rejected {
                model: "llama".into(),
                fault,
                message: e.to_string(),
            };
        }
        match e {
            LlamaError::ModelMissing { path } => RuntimeError::ModelMissing { path },
            LlamaError::Load { path, message } => RuntimeError::Load { path, message },
            other => RuntimeError::Inference {
                model: "llama".into(),
                message: other.to_string(),
            },
        }
    }
}
