//! The two inference runtimes: ONNX Runtime (through `ort`) for every encoder-style model, and
//! llama.cpp (through `llama-cpp-2`) for GGUF chat models.

pub mod llama;
pub mod onnx;

pub use onnx::{OnnxRuntime, OnnxSession, SessionOptions};

/// What can go wrong while finding, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the ONNX Runtime library was not found (looked at {looked}); run `tessera models fetch` \
         (or `make models`), or point ORT_DYLIB_PATH at libonnxruntime.so"
    )]
    LibraryMissing { looked: String },
    #[error("cannot load the ONNX Runtime library {path}: {message}")]
    LibraryLoad { path: String, message: String },
    #[error("model file {path} is missing; run `tessera models fetch`")]
    ModelMissing { path: String },
    #[error("cannot load model {path}: {message}")]
    Load { path: String, message: String },
    #[error("inference failed in {model}: {message}")]
    Inference { model: String, message: String },
    #[error("model {model} produced an unexpected output: {message}")]
    Output { model: String, message: String },
    /// The caller's input cannot be run as it is (too long for the context, badly formed); the
    /// model itself is fine.
    #[error("{model} refused the input: {message}")]
    Rejected {
        model: String,
        fault: InputFault,
        message: String,
    },
}

/// Why a model refused its input: each is the caller's to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFault {
    /// The prompt plus the tokens asked for do not fit the context window.
    ContextExceeded,
    /// The input is larger than the context window can ever hold.
    InputTooLarge,
    /// The chat messages cannot be rendered by the model's template.
    InvalidMessages,
    /// A generation option is out of range.
    InvalidOptions,
    /// There is nothing to run.
    EmptyPrompt,
}

/// A model the registry can hold: loaded once, then fed batches of requests on an inference
/// thread. Implementations stay free of actors; `tessera-actors` wraps them.
pub trait Model: Send + 'static {
    /// One request (one text to embed, one image to classify, ...).
    type Request: Send + 'static;
    /// Its answer.
    type Response: Send + 'static;

    /// The largest batch `run_batch` accepts; 1 for models that do not batch.
    fn max_batch(&self) -> usize {
        1
    }

    /// Runs a batch; one result per request, in order.
    fn run_batch(
        &mut self,
        requests: Vec<Self::Request>,
    ) -> Vec<Result<Self::Response, RuntimeError>>;
}
