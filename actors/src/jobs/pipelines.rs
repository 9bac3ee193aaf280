//! The pipelines a job runs, per modality, over the model instances of the node. Each step's
//! output is cached by (input, model version, parameters) and carries its provenance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::Addr;
use async_trait::async_trait;
use futures_util::future::join_all;
use serde_json::json;
use tessera_events::content::Modality;
use tessera_events::jobs::{job_stream, JobEvent, JobRequested, Provenance};
use tessera_events::{CommandContext, EventStore, ExpectedVersion};
use tessera_models::text::{Chunker, Embedder};

use super::cache::{cached, ModelInfo};
use super::StepError;
use crate::models::{Infer, ModelInstance};

/// Reads the bytes of an item for a pipeline.
#[async_trait]
pub trait MediaSource: Send + Sync + 'static {
    /// Copies the blob to a local file, deleted when the returned path is dropped.
    async fn fetch(&self, blob_key: &str) -> Result<tempfile::TempPath, String>;
}

/// Where a running job reports its progress (`job.progress` events, throttled by the caller's
/// stage changes).
#[derive(Clone)]
pub struct ProgressSink {
    store: Arc<dyn EventStore>,
    job_id: uuid::Uuid,
    attempt: u32,
}

impl ProgressSink {
    pub fn new(store: Arc<dyn EventStore>, job_id: uuid::Uuid, attempt: u32) -> Self {
        ProgressSink {
            store,
            job_id,
            attempt,
        }
    }

    /// Records that the job reached `stage`, `percent` done. Best effort: a lost progress
    /// event changes nothing.
    pub async fn report(&self, stage: &str, percent: u8) {
        let stream = job_stream(self.job_id);
        let event = JobEvent::Progress {
            attempt: self.attempt,
            stage: stage.to_owned(),
            percent: percent.min(100),
        };
        let ctx = CommandContext::new(None);
        if let Ok(data) = ctx.to_event_data(&stream, &[event], None) {
            if let Err(e) = self.store.append(&stream, ExpectedVersion::Any, data).await {
                tracing::debug!(job = %self.job_id, error = %e, "progress not recorded");
            }
        }
    }
}

/// The most text a pipeline reads from one item.
pub const MAX_TEXT_BYTES: u64 = 8 * 1024 * 1024;

/// The embedding model's tokenizer, loaded at first use (a node may start before its models
/// are fetched).
pub struct LazyChunker {
    dir: PathBuf,
    loaded: std::sync::Mutex<Option<Chunker>>,
}

impl LazyChunker {
    pub fn new(dir: PathBuf) -> Self {
        LazyChunker {
            dir,
            loaded: std::sync::Mutex::new(None),
        }
    }

    fn get(&self) -> Result<Chunker, StepError> {
        let mut slot = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = Chunker::load(&self.dir).map_err(|e| {
            StepError::transient(
                "model_unavailable",
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

/// Every pipeline, over the node's models.
pub struct Pipelines {
    pub store: Arc<dyn EventStore>,
    pub media: Arc<dyn MediaSource>,
    pub embeddings: EmbeddingModel,
}

/// One embedded window of derived text.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EmbeddedChunk {
    /// What the text is (`text`, `ocr`, `transcript`, `labels`, `description`, ...).
    pub source: String,
    /// Byte range of the window in that text.
    pub start: usize,
    pub end: usize,
    pub vector: Vec<f32>,
}

impl Pipelines {
    /// Runs the pipeline of the request's modality.
    pub async fn run(
        &self,
        request: &JobRequested,
        progress: &ProgressSink,
    ) -> Result<(serde_json::Value, Vec<Provenance>), StepError> {
        progress.report("fetching", 0).await;
        let file = self
            .media
            .fetch(&request.blob_key)
            .await
            .map_err(|e| StepError::transient("media_unavailable", e))?;
        match request.modality {
            Modality::Text => self.text(request, &file, progress).await,
            other => Err(StepError::bad_input(
                "modality_unsupported",
                format!("no pipeline for {} on this node", other.as_str()),
            )),
        }
    }

    async fn text(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<(serde_json::Value, Vec<Provenance>), StepError> {
        let text = read_text(file.to_path_buf()).await?;
        progress.report("embedding", 30).await;
        let mut provenance = Vec::new();
        let embeddings = self
            .embed_text(&request.sha256, "text", &text, &mut provenance)
            .await?;
        let words = text.split_whitespace().count();
        let analysis = json!({
            "modality": "text",
            "words": words,
            "characters": text.chars().count(),
            "embeddings": embeddings,
            "provenance": provenance,
        });
        Ok((analysis, provenance))
    }

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
            "text.embeddings",
            &self.embeddings.info,
            json!({ "window_tokens": 256, "overlap_tokens": 32, "pooling": "mean", "normalised": true }),
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

/// Reads an item's text (UTF-8, invalid sequences replaced), at most [`MAX_TEXT_BYTES`].
async fn read_text(path: PathBuf) -> Result<String, StepError> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let f = std::fs::File::open(&path).map_err(|e| StepError::internal(e.to_string()))?;
        let mut bytes = Vec::new();
        f.take(MAX_TEXT_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| StepError::internal(e.to_string()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    })
    .await
    .map_err(|e| StepError::internal(e.to_string()))?
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
