//! Interactive model work on this node's models: chat, embeddings, transcription and speech,
//! each behind the caller's processing quota and recorded in their ledger when done.
//!
//! `/v1`, generated items (`crate::generate`) and conversations (`crate::conversations`)
//! start their model work here, so the quota gate, the per-user prompt cache and the metering
//! are the same whichever door a request came in by. Callers parse requests and map
//! [`InferenceError`] to their own wire format; nothing here knows HTTP.

pub mod chat;
pub mod embeddings;
pub mod error;
pub mod metering;
pub mod speech;
pub mod transcription;

use std::sync::Arc;

use tessera_actors::jobs::Pipelines;

pub use chat::{ChatEvent, ChatWork};
pub use embeddings::Embedded;
pub use error::InferenceError;
pub use metering::{Metered, Metering};
pub use speech::Spoken;
pub use transcription::Transcribed;

use crate::content::ContentService;

/// Model work for the edge: the node's pipelines, the caller's quota and ledger.
#[derive(Clone)]
pub struct Inference {
    content: ContentService,
    pipelines: Arc<Pipelines>,
    metering: Metering,
}

impl Inference {
    /// Model work on `pipelines`, gated and metered through `content`'s ledgers.
    pub fn new(content: ContentService, pipelines: Arc<Pipelines>) -> Self {
        Inference {
            metering: Metering::new(content.clone()),
            content,
            pipelines,
        }
    }

    /// The quota gate and the ledger.
    pub fn metering(&self) -> &Metering {
        &self.metering
    }

    /// The node's models.
    pub fn pipelines(&self) -> &Arc<Pipelines> {
        &self.pipelines
    }
}
