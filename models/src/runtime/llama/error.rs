//! What can go wrong while loading a GGUF model or generating with it.

use crate::runtime::RuntimeError;

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
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            LlamaError::Backend(_) => "llama_backend",
            LlamaError::ModelMissing { .. } => "model_missing",
            LlamaError::Load { .. } => "model_load",
            LlamaError::InvalidMessages(_) => "invalid_messages",
            LlamaError::InvalidOptions(_) => "invalid_options",
            LlamaError::EmptyPrompt => "empty_prompt",
            LlamaError::ContextExceeded { .. } => "context_exceeded",
            LlamaError::InputTooLarge { .. } => "input_too_large",
            LlamaError::Context { .. } => "context_create",
            LlamaError::Decode(_) => "decode_failed",
        }
    }
}

impl From<LlamaError> for RuntimeError {
    fn from(e: LlamaError) -> Self {
        match e {
            LlamaError::ModelMissing { path } => RuntimeError::ModelMissing { path },
            LlamaError::Load { path, message } => RuntimeError::Load { path, message },
            other => RuntimeError::Inference {
                model: "llama".into(),
                message: format!("{}: {other}", other.code()),
            },
        }
    }
}
