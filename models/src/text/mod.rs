//! Text pipelines: sentence embeddings and chunking of long text.

pub mod chat;
pub mod embed;

pub use embed::{cosine, Chunk, Chunker, Embedder};
