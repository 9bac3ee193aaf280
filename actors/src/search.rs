//! What the search read model needs from the node: the embedding model, through its instance
//! (so index work is batched with everyone else's and charged to no one), and a text item's
//! text from the blob store.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::join_all;
use tessera_events::content::{content_stream, ContentEvent};
use tessera_events::{ContentId, DomainEvent, EventStore};
use tessera_models::text::Embedder;
use tessera_projections::read_models::search::{SearchInputs, MAX_TEXT_BYTES};
use uuid::Uuid;

use crate::jobs::pipelines::read_text;
use crate::jobs::Pipelines;
use crate::models::Infer;

/// The embedding model's generation in the index's version: raise it when the default
/// embedding model (or how its vectors are made) changes, and every node rebuilds the index
/// beside the old one.
pub const EMBEDDING_GENERATION: i32 = 1;

/// [`SearchInputs`] over the node's pipelines.
pub struct IndexInputs {
    pipelines: Arc<Pipelines>,
}

impl IndexInputs {
    pub fn new(pipelines: Arc<Pipelines>) -> Self {
        Self { pipelines }
    }
}

#[async_trait]
impl SearchInputs for IndexInputs {
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        let instance = &self.pipelines.embeddings.instance;
        let answers = join_all(
            texts
                .into_iter()
                .map(|t| instance.send(Infer::<Embedder>(t))),
        )
        .await;
        answers
            .into_iter()
            .map(|a| match a {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(format!("embedding model: {e}")),
                Err(e) => Err(format!("embedding model instance: {e}")),
            })
            .collect()
    }

    async fn text(&self, item: Uuid, blob_key: &str) -> Result<Option<String>, String> {
        match self.pipelines.media.fetch(blob_key).await {
            Ok(file) => read_text(file.to_path_buf(), MAX_TEXT_BYTES as u64)
                .await
                .map(Some)
                .map_err(|e| format!("reading the text of item {item}: {e}")),
            // Gone for good when the item was purged since (a rebuild replays its analysis);
            // otherwise the store failed, and the projector retries.
            Err(e) if purged(self.pipelines.store.as_ref(), item).await? => {
                tracing::debug!(%item, error = %e, "text of a purged item not indexed");
                Ok(None)
            }
            Err(e) => Err(format!("reading the text of item {item}: {e}")),
        }
    }

    fn generation(&self) -> i32 {
        EMBEDDING_GENERATION
    }
}

/// Whether the item's stream ends with its purge.
async fn purged(store: &dyn EventStore, item: Uuid) -> Result<bool, String> {
    let last = store
        .read_last(&content_stream(ContentId(item)))
        .await
        .map_err(|e| e.to_string())?;
    Ok(last.is_some_and(|e| matches!(ContentEvent::decode(&e), Ok(ContentEvent::Purged {}))))
}
