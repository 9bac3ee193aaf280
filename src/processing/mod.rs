//! Processing at the edge: the node's model instances, modality workers and job dispatcher,
//! built from configuration and the model catalog, over the node's blob store.

pub mod settings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::PgPool;
use tessera_actors::jobs::pipelines::{EmbeddingModel, Handle, LazyChunker, PipelineOptions};
use tessera_actors::jobs::{
    DispatcherOptions, JobDispatcher, MediaSource, ModalityWorker, ModelInfo, Pipelines,
};
use tessera_actors::models::{InstanceOptions, Loader, ModelInstance, ModelRegistry};
use tessera_events::EventStore;
use tessera_models::audio::{SileroVad, Whisper};
use tessera_models::catalog::{Catalog, ModelEntry};
use tessera_models::runtime::llama::{LlamaModel, LlamaOptions};
use tessera_models::runtime::{RuntimeError, SessionOptions};
use tessera_models::speech::PiperVoice;
use tessera_models::text::chat::ChatModel;
use tessera_models::text::Embedder;
use tessera_models::vision::{Classifier, Ocr};
use tokio::sync::Semaphore;

pub use settings::ProcessingSettings;

use crate::blob::{BlobKey, BlobStore};

/// The node's model actors, the pipelines over them and, when this node runs jobs, the
/// dispatcher. Models load on first use, so a node that never uses one pays nothing for it.
pub struct Processing {
    /// Present when the node runs processing jobs (`processing.enabled`).
    pub dispatcher: Option<Addr<JobDispatcher>>,
    pub registry: Addr<ModelRegistry>,
    pub catalog: Arc<Catalog>,
    /// The pipelines, shared by jobs and interactive requests (chat, `/v1`, generation).
    pub pipelines: Arc<Pipelines>,
}

/// What the admin model routes read: the catalog in use and the node's model registry.
#[derive(Clone)]
pub struct ModelsHandle {
    pub catalog: Arc<Catalog>,
    pub registry: Addr<ModelRegistry>,
}

impl ModelsHandle {
    pub fn new(processing: &Processing) -> Self {
        ModelsHandle {
            catalog: processing.catalog.clone(),
            registry: processing.registry.clone(),
        }
    }
}

/// Copies blobs to local temporary files for the pipelines.
struct BlobMedia {
    blobs: Arc<dyn BlobStore>,
    tmp: std::path::PathBuf,
}

#[async_trait]
impl MediaSource for BlobMedia {
    async fn fetch(&self, blob_key: &str) -> Result<tempfile::TempPath, String> {
        let key = BlobKey::new(blob_key).map_err(|e| e.to_string())?;
        crate::blob::fetch_to_temp(self.blobs.as_ref(), &key, &self.tmp, "media-")
            .await
            .map_err(|e| e.to_string())
    }

    async fn put_derived(
        &self,
        content_sha256: &str,
        name: &str,
        bytes: Vec<u8>,
        mime: &str,
    ) -> Result<String, String> {
        let key = BlobKey::new(&format!("previews/{content_sha256}/{name}"))
            .map_err(|e| e.to_string())?;
        self.blobs
            .put(&key, bytes.into(), mime)
            .await
            .map_err(|e| e.to_string())?;
        Ok(key.to_string())
    }
}

/// Provenance facts of a catalog model: id, version and its main file's sha256.
pub fn model_info(entry: &ModelEntry, main_file: &str) -> ModelInfo {
    let sha256 = entry
        .all_files()
        .find(|f| f.name == main_file)
        .and_then(|f| f.sha256.clone())
        .unwrap_or_default();
    ModelInfo {
        id: entry.id.clone(),
        version: entry.version.clone(),
        sha256,
    }
}

/// Starts the registry, the instances and the pipelines; with `processing.enabled`, also the
/// workers and the dispatcher. Models load on first use, so a node whose models are not
/// installed starts, and its jobs (and requests) fail with a clear reason.
pub fn start(
    settings: &ProcessingSettings,
    pool: PgPool,
    store: Arc<dyn EventStore>,
    blobs: Arc<dyn BlobStore>,
    data_dir: &std::path::Path,
    node_id: String,
) -> anyhow::Result<Processing> {
    let catalog = Arc::new(match &settings.catalog {
        Some(path) => Catalog::load_with_user(path)
            .with_context(|| format!("reading the model catalog {}", path.display()))?,
        None => Catalog::shipped_with_user().context("reading the user's model catalog")?,
    });
    let tmp = data_dir.join("tmp").join("processing");
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let threads = match settings.inference_threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let starter = Starter {
        catalog: catalog.clone(),
        settings: settings.clone(),
        budget: Arc::new(Semaphore::new(threads)),
        registry: ModelRegistry::new(settings.memory_budget_mb).start(),
    };
    let session = SessionOptions::default();
    let embeddings = starter.handle(
        &settings.models.embeddings,
        "model.onnx",
        true,
        move |dir| Embedder::load(dir, &session),
    );
    let chunker = LazyChunker::new(
        catalog
            .get(&settings.models.embeddings)
            .map(|e| catalog.installed_dir(e))
            .unwrap_or_default(),
    );
    let llama = LlamaOptions {
        n_threads: 1,
        n_threads_batch: 1,
        prompt_cache_bytes: usize::try_from(settings.prompt_cache_mb.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
        ..LlamaOptions::default()
    };
    let chat_entry = catalog.get(&settings.models.chat).cloned();
    let chat_file = chat_entry
        .as_ref()
        .and_then(|e| e.files.first().map(|f| f.name.clone()))
        .unwrap_or_default();
    let gguf = chat_file.clone();
    let voice_file = catalog
        .get(&settings.models.speech_synthesis)
        .and_then(|e| e.files.iter().find(|f| f.name.ends_with(".onnx")))
        .map(|f| f.name.clone())
        .unwrap_or_default();
    let pipelines = Arc::new(Pipelines {
        store: store.clone(),
        media: Arc::new(BlobMedia {
            blobs,
            tmp: tmp.clone(),
        }),
        embeddings: EmbeddingModel {
            instance: embeddings.instance,
            chunker,
            info: embeddings.info,
        },
        classifier: starter.handle(
            &settings.models.classifier,
            "model.onnx",
            true,
            move |dir| Classifier::load(dir, &session).map_err(vision_runtime),
        ),
        ocr: starter.handle(&settings.models.ocr, "rec.onnx", false, move |dir| {
            Ocr::load(dir, &session).map_err(vision_runtime)
        }),
        vad: starter.handle(&settings.models.vad, "silero_vad.onnx", false, move |dir| {
            SileroVad::load(dir, &session)
        }),
        whisper: starter.handle(
            &settings.models.speech_recognition,
            "decoder.onnx",
            false,
            move |dir| Whisper::load(dir, &session),
        ),
        chat: starter.handle_with(
            &settings.models.chat,
            &chat_file,
            false,
            settings.prompt_cache_mb,
            move |dir| {
                let model =
                    LlamaModel::load(&dir.join(&gguf), &llama).map_err(RuntimeError::from)?;
                Ok(ChatModel::new(model))
            },
        ),
        speech: starter.handle(
            &settings.models.speech_synthesis,
            &voice_file,
            false,
            move |dir| PiperVoice::load(dir, &session).map_err(speech_runtime),
        ),
        options: PipelineOptions::default(),
    });
    if !settings.enabled {
        return Ok(Processing {
            dispatcher: None,
            registry: starter.registry,
            catalog,
            pipelines,
        });
    }
    let mut workers = HashMap::new();
    for modality in ["text", "image", "audio", "video"] {
        let worker = ModalityWorker::new(modality, pipelines.clone(), settings.slots).start();
        workers.insert(modality.to_owned(), worker);
    }
    let mut options = DispatcherOptions::new(node_id);
    options.slots = settings.slots.max(1);
    options.max_attempts = settings.max_attempts.max(1);
    options.lease_ttl = Duration::from_secs(settings.lease_ttl_secs.max(1));
    options.backoff = Duration::from_secs(settings.backoff_secs);
    options.attempt_timeout = Duration::from_secs(settings.attempt_timeout_secs.max(1));
    let dispatcher = JobDispatcher::new(pool, store, options, workers).start();
    Ok(Processing {
        dispatcher: Some(dispatcher),
        registry: starter.registry,
        catalog,
        pipelines,
    })
}

fn speech_runtime(e: tessera_models::speech::SpeechError) -> RuntimeError {
    match e {
        tessera_models::speech::SpeechError::Runtime(r) => r,
        other => RuntimeError::Load {
            path: String::new(),
            message: other.to_string(),
        },
    }
}

fn vision_runtime(e: tessera_models::vision::VisionError) -> RuntimeError {
    match e {
        tessera_models::vision::VisionError::Runtime(r) => r,
        other => RuntimeError::Load {
            path: String::new(),
            message: other.to_string(),
        },
    }
}

/// Starts model instances over the catalog.
struct Starter {
    catalog: Arc<Catalog>,
    settings: ProcessingSettings,
    budget: Arc<Semaphore>,
    registry: Addr<ModelRegistry>,
}

impl Starter {
    /// An instance of catalog model `id`, loaded by `load` from its install folder at first use.
    /// `batches` gives it the batch window.
    fn handle<M, F>(&self, id: &str, main_file: &str, batches: bool, load: F) -> Handle<M>
    where
        M: tessera_models::runtime::Model,
        F: Fn(&std::path::Path) -> Result<M, RuntimeError> + Send + Sync + 'static,
    {
        self.handle_with(id, main_file, batches, 0, load)
    }

    /// [`Starter::handle`] for a model that holds `extra_mb` of memory beyond its catalog
    /// estimate once loaded (the chat model's prompt cache).
    fn handle_with<M, F>(
        &self,
        id: &str,
        main_file: &str,
        batches: bool,
        extra_mb: u64,
        load: F,
    ) -> Handle<M>
    where
        M: tessera_models::runtime::Model,
        F: Fn(&std::path::Path) -> Result<M, RuntimeError> + Send + Sync + 'static,
    {
        let entry = self.catalog.get(id);
        let info = entry
            .map(|e| model_info(e, main_file))
            .unwrap_or_else(|| ModelInfo {
                id: id.to_owned(),
                version: "unknown".into(),
                sha256: String::new(),
            });
        let catalog = self.catalog.clone();
        let owned_id = id.to_owned();
        let loader: Loader<M> = Arc::new(move || {
            let dir = catalog
                .require(&owned_id)
                .map_err(|e| RuntimeError::ModelMissing {
                    path: e.to_string(),
                })?;
            load(&dir)
        });
        let options = InstanceOptions {
            max_queue: self.settings.max_queue,
            batch_window: if batches {
                Duration::from_millis(self.settings.batch_window_ms)
            } else {
                Duration::ZERO
            },
            idle_unload: Duration::from_secs(self.settings.idle_unload_secs),
            memory_mb: entry.and_then(|e| e.memory_mb).unwrap_or(100) + extra_mb,
        };
        let instance = ModelInstance::start(
            id,
            loader,
            options,
            self.budget.clone(),
            Some(self.registry.clone()),
        );
        Handle { instance, info }
    }
}
