//! The pipelines a job runs, one module per modality (`text`, `image`, `audio`, `video`), over
//! the model instances of the node, and the steps they share (`labels`, `ocr`, `transcription`,
//! `summary`, `compose` for the language model's prose, `embeddings`, `speech`). What is stated
//! about a picture or a video is built from the findings (`statements`); the model's prose is
//! added only where `grounding` finds it supported. Each
//! step's output is cached by (input, model version, parameters: `params`) and carries its
//! provenance; a pipeline's findings are a typed [`Analysis`].

mod audio;
pub mod compose;
mod embeddings;
pub mod grounding;
mod image;
mod labels;
mod ocr;
mod params;
mod progress;
mod speech;
pub mod statements;
mod summary;
mod support;
mod text;
mod transcription;
mod video;

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use async_trait::async_trait;
use tessera_events::content::{Analysis, Modality};
use tessera_events::jobs::JobRequested;
use tessera_events::{ErrorCode, EventStore};
use tessera_models::audio::{AudioLimits, SileroVad, Whisper};
use tessera_models::runtime::Model;
use tessera_models::speech::PiperVoice;
use tessera_models::text::chat::ChatModel;
use tessera_models::video::KeyframeOptions;
use tessera_models::vision::{Classifier, ImageLimits, Ocr};

use super::cache::ModelInfo;
use super::StepError;
use crate::models::{Infer, ModelInstance};

pub use embeddings::{EmbeddingModel, LazyChunker};
pub use progress::{count_tokens, ProgressSink};
pub use tessera_events::content::analysis::EmbeddedChunk;
pub use text::{read_text, MAX_TEXT_BYTES};
pub use transcription::transcript_finding;

/// Reads the bytes of an item for a pipeline.
#[async_trait]
pub trait MediaSource: Send + Sync + 'static {
    /// Copies the blob to a local file, deleted when the returned path is dropped.
    async fn fetch(&self, blob_key: &str) -> Result<tempfile::TempPath, String>;
    /// Stores a picture derived from an item (a keyframe) beside its previews, so it goes
    /// when the item is purged; returns the blob key.
    async fn put_derived(
        &self,
        content_sha256: &str,
        name: &str,
        bytes: Vec<u8>,
        mime: &str,
    ) -> Result<String, String>;
}

/// A model instance and what identifies its model.
pub struct Handle<M: Model> {
    pub instance: Addr<ModelInstance<M>>,
    pub info: ModelInfo,
}

impl<M: Model> Handle<M> {
    /// One inference.
    pub async fn infer(&self, request: M::Request) -> Result<M::Response, StepError> {
        self.instance
            .send(Infer::<M>(request))
            .await
            .map_err(|e| StepError::internal(e.to_string()))?
            .map_err(StepError::from)
    }
}

/// Limits and choices of the pipelines.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub image_limits: ImageLimits,
    pub audio_limits: AudioLimits,
    pub keyframes: KeyframeOptions,
    /// Time limit of one ffmpeg run.
    pub tool_timeout: Duration,
    /// Labels kept per image.
    pub top_labels: usize,
    /// Longest summary, in words.
    pub summary_words: usize,
    /// Texts shorter than this (in words) get no summary.
    pub summary_min_words: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            image_limits: ImageLimits::default(),
            audio_limits: AudioLimits::default(),
            keyframes: KeyframeOptions::default(),
            tool_timeout: Duration::from_secs(300),
            top_labels: 5,
            summary_words: 60,
            summary_min_words: 80,
        }
    }
}

/// Every pipeline, over the node's models.
pub struct Pipelines {
    pub store: Arc<dyn EventStore>,
    pub media: Arc<dyn MediaSource>,
    pub embeddings: EmbeddingModel,
    pub classifier: Handle<Classifier>,
    pub ocr: Handle<Ocr>,
    pub vad: Handle<SileroVad>,
    pub whisper: Handle<Whisper>,
    pub chat: Handle<ChatModel>,
    /// The voice of speech synthesis (interactive requests only; uploads are not spoken).
    pub speech: Handle<PiperVoice>,
    pub options: PipelineOptions,
}

impl Pipelines {
    /// Runs the pipeline of the request's modality: its findings, with the provenance of
    /// every model step.
    pub async fn run(
        &self,
        request: &JobRequested,
        progress: &ProgressSink,
    ) -> Result<Analysis, StepError> {
        progress.report("fetching", 0).await;
        let file = self
            .media
            .fetch(&request.blob_key)
            .await
            .map_err(|e| StepError::transient(ErrorCode::MediaUnavailable, e))?;
        match request.modality {
            Modality::Text => self.text(request, &file, progress).await,
            Modality::Image => self.image(request, &file, progress).await,
            Modality::Audio => self.audio(request, &file, progress).await,
            Modality::Video => self.video(request, &file, progress).await,
        }
    }
}
