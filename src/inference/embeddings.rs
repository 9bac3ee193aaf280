//! Text embeddings on this node's model. A request's texts go to the model instance together,
//! so its dynamic batching runs them as few batches.

use std::time::Instant;

use futures_util::future::join_all;
use tessera_actors::models::Infer;
use tessera_events::content::Modality;
use tessera_events::UserId;
use tessera_models::text::embed::MAX_TOKENS;
use tessera_models::text::Embedder;

use super::metering::{kind, Metered};
use super::{Inference, InferenceError};

/// Texts handed to the model instance at once: a few of its batches, well under its queue.
const IN_FLIGHT: usize = 128;

/// The vectors of a request's texts, in their order.
#[derive(Debug)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens read, over all texts.
    pub tokens: u64,
}

impl Inference {
    /// Embeds `texts` for `user` with `model` (metered under that name). Each text must fit
    /// the model's window; none is cut.
    pub async fn embed(
        &self,
        user: UserId,
        model: String,
        texts: Vec<String>,
    ) -> Result<Embedded, InferenceError> {
        self.metering.gate(user).await?;
        let started = Instant::now();

        // Counting runs beside the async loop.
        let p = self.pipelines.clone();
        let (texts, counts) = tokio::task::spawn_blocking(move || {
            let chunker = p.embeddings.chunker.get()?;
            let mut counts = Vec::with_capacity(texts.len());
            for (index, t) in texts.iter().enumerate() {
                let tokens = chunker
                    .count_tokens(t)
                    .map_err(|e| InferenceError::Internal(format!("tokenizer: {e}")))?;
                if tokens > MAX_TOKENS {
                    return Err(InferenceError::InputTooLong {
                        index,
                        tokens,
                        max: MAX_TOKENS,
                    });
                }
                counts.push(tokens as u64);
            }
            Ok((texts, counts))
        })
        .await
        .map_err(InferenceError::internal)??;

        let instance = &self.pipelines.embeddings.instance;
        let mut vectors = Vec::with_capacity(texts.len());
        for group in texts.chunks(IN_FLIGHT) {
            let asks = group
                .iter()
                .map(|t| instance.send(Infer::<Embedder>(t.clone())));
            for answer in join_all(asks).await {
                let v = answer.map_err(|e| InferenceError::Unavailable(e.to_string()))??;
                vectors.push(v);
            }
        }
        let tokens: u64 = counts.iter().sum();
        let metered =
            Metered::since(kind::EMBEDDINGS, Modality::Text, model, started).tokens(tokens, 0);
        self.metering.record_done(user, metered).await;
        Ok(Embedded { vectors, tokens })
    }
}
