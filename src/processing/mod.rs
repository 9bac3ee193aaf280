//! Processing at the edge: the node's model instances, modality workers and job dispatcher,
//! built from configuration and the model catalog, over the node's blob store.

pub mod settings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use async_trait::async_trait;
use futures_util::StreamExt;
use sqlx::PgPool;
use tessera_actors::jobs::pipelines::{EmbeddingModel, LazyChunker};
use tessera_actors::jobs::{
    DispatcherOptions, JobDispatcher, MediaSource, ModalityWorker, ModelInfo, Pipelines,
};
use tessera_actors::models::{InstanceOptions, ModelInstance, ModelRegistry};
use tessera_events::EventStore;
use tessera_models::catalog::{Catalog, ModelEntry};
use tessera_models::runtime::SessionOptions;
use tessera_models::text::Embedder;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

pub use settings::ProcessingSettings;

use crate::blob::{BlobKey, BlobStore};

/// The node's processing actors.
pub struct Processing {
    pub dispatcher: Addr<JobDispatcher>,
    pub registry: Addr<ModelRegistry>,
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
        let read = self
            .blobs
            .get(&key, None)
            .await
            .map_err(|e| e.to_string())?;
        let path = tempfile::Builder::new()
            .prefix("media-")
            .tempfile_in(&self.tmp)
            .map_err(|e| e.to_string())?
            .into_temp_path();
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = read.stream;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            file.write_all(&chunk).await.map_err(|e| e.to_string())?;
        }
        file.flush().await.map_err(|e| e.to_string())?;
        Ok(path)
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

/// Starts the registry, the instances, the workers and the dispatcher. Models load on first use,
/// so a node whose models are not installed starts, and its jobs fail with a clear reason.
pub fn start(
    settings: &ProcessingSettings,
    pool: PgPool,
    store: Arc<dyn EventStore>,
    blobs: Arc<dyn BlobStore>,
    data_dir: &std::path::Path,
    node_id: String,
) -> anyhow::Result<Processing> {
    let catalog = match &settings.catalog {
        Some(path) => Catalog::load_with_user(path)
            .with_context(|| format!("reading the model catalog {}", path.display()))?,
        None => Catalog::shipped(),
    };
    let tmp = data_dir.join("tmp").join("processing");
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let threads = match settings.inference_threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let budget = Arc::new(Semaphore::new(threads));
    let registry = ModelRegistry::new(settings.memory_budget_mb).start();
    let options = |entry: &ModelEntry, batch_window: Duration| InstanceOptions {
        max_queue: settings.max_queue,
        batch_window,
        idle_unload: Duration::from_secs(settings.idle_unload_secs),
        memory_mb: entry.memory_mb.unwrap_or(100),
    };

    let embed_entry = catalog
        .get("minilm-l6-v2-int8")
        .context("the catalog has no minilm-l6-v2-int8 entry")?
        .clone();
    let chunker = LazyChunker::new(catalog.installed_dir(&embed_entry));
    let embed_catalog = catalog.clone();
    let embedder = ModelInstance::<Embedder>::start(
        "minilm-l6-v2-int8",
        Arc::new(move || {
            let dir = embed_catalog.require("minilm-l6-v2-int8").map_err(|e| {
                tessera_models::runtime::RuntimeError::ModelMissing {
                    path: e.to_string(),
                }
            })?;
            Embedder::load(&dir, &SessionOptions::default())
        }),
        options(
            &embed_entry,
            Duration::from_millis(settings.batch_window_ms),
        ),
        budget.clone(),
        Some(registry.clone().recipient()),
    );

    let pipelines = Arc::new(Pipelines {
        store: store.clone(),
        media: Arc::new(BlobMedia { blobs, tmp }),
        embeddings: EmbeddingModel {
            instance: embedder,
            chunker,
            info: model_info(&embed_entry, "model.onnx"),
        },
    });
    let mut workers = HashMap::new();
    for modality in ["text"] {
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
        dispatcher,
        registry,
    })
}
