//! llama.cpp, through `llama-cpp-2`, for GGUF chat models.
//!
//! One llama.cpp backend per process and one [`LlamaModel`] per model file, shared through an
//! `Arc`; every generation gets its own context (its own KV cache), so generations may run on
//! several threads at once. Contexts are created one at a time: llama.cpp mutates the model while
//! it creates one. The chat template stored in the GGUF is rendered with `minijinja`, with a
//! built-in ChatML template for files that carry none.
//!
//! The seams: [`model`] loads a file and builds contexts, [`template`] renders conversations,
//! [`generate`] runs the decode loop and sampling, [`loop_guard`] cuts a generation that repeats
//! itself, [`prompt_cache`] keeps KV state between generations, and [`text_stream`] turns token
//! bytes into streamed text.

mod error;
mod generate;
mod loop_guard;
mod model;
mod prompt_cache;
mod template;
mod text_stream;

pub use error::LlamaError;
pub use generate::{Finish, GenerateOptions, Generation};
pub use model::{shared_backend, LlamaModel, LlamaOptions};
pub use template::{ChatMessage, CHATML_TEMPLATE};
