//! Text embeddings for search: the embedding model, its tokenizer (loaded at first use), and
//! derived text embedded window by window.

use std::path::PathBuf;
use std::sync::Arc;

use actix::Addr;
use futures_util::future::join_all;
use tessera_events::content::analysis::{step, EmbeddedChunk};
use tessera_events::jobs::Provenance;
use tessera_events::ErrorCode;
use tessera_models::text::{Chunker, Embedder};

use super::params::EMBEDDINGS;
use super::support::sha256_hex;
use super::Pipelines;
use crate::jobs::cache::{cached, ModelInfo};
use crate::jobs::StepError;
use crate::models::{Infer, ModelInstance};

/// The embedding model's tokenizer, loaded at first use (a node may start before its models
/// are fetched).
pub struct LazyChunker {
    dir: PathBuf,
    loaded: std::sync::Mutex<Option<Arc<Chunker>>>,
}

impl LazyChunker {
    pub fn new(dir: PathBuf) -> Self {
        LazyChunker {
            dir,
            loaded: std::sync::Mutex::new(None),
        }
    }

    /// The tokenizer, loaded on first use.
    pub fn get(&self) -> Result<Arc<Chunker>, StepError> {
        let mut slot = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = Chunker::load(&self.dir).map(Arc::new).map_err(|e| {
            StepError::transient(
                ErrorCode::ModelUnavailable,
                format!("{e} (run `tessera models fetch`)"),
            )
        })?;
        *slot = Some(c.clone());
        Ok(c)
    }
}

/// The embedding model of the node.
pub struct EmbeddingModel {
    pub instance: Addr<ModelInstance<Embedder>>,
    pub chunker: LazyChunker,
    pub info: ModelInfo,
}

impl Pipelines {
    /// Embeds a derived text window by window (cached by the text's own hash).
    pub async fn embed_text(
        &self,
        input_sha256: &str,
        source: &str,
        text: &str,
        provenance: &mut Vec<Provenance>,
    ) -> Result<Vec<EmbeddedChunk>, StepError> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let key = if source == "text" {
            input_sha256.to_owned()
        } else {
            sha256_hex(text.as_bytes())
        };
        let chunker = self.embeddings.chunker.get()?;
        let owned = text.to_owned();
        let instance = self.embeddings.instance.clone();
        let source_name = source.to_owned();
        let (chunks, p) = cached(
            self.store.as_ref(),
            &key,
            step::TEXT_EMBEDDINGS,
            &self.embeddings.info,
            &EMBEDDINGS,
            async move {
                let chunks = tokio::task::spawn_blocking(move || chunker.chunks(&owned))
                    .await
                    .map_err(|e| StepError::internal(e.to_string()))?
                    .map_err(|e| StepError::internal(e.to_string()))?;
                let asks = chunks
                    .iter()
                    .map(|c| instance.send(Infer::<Embedder>(c.text.clone())));
                let mut out = Vec::with_capacity(chunks.len());
                for (c, answer) in chunks.iter().zip(join_all(asks).await) {
                    let vector = answer
                        .map_err(|e| StepError::internal(e.to_string()))?
                        .map_err(StepError::from)?;
                    out.push(EmbeddedChunk {
                        source: source_name.clone(),
                        start: c.start,
                        end: c.end,
                        vector,
                    });
                }
                Ok(out)
            },
        )
        .await?;
        provenance.push(p);
        Ok(chunks)
    }
}
