//! Cross-modal generation: text read aloud, speech written down, an image described with the
//! text found in it, any item summarised (a video with time codes), a text item narrated. Each
//! output is a new item of the requester, linked to its sources (`content.generated`), with the
//! provenance of every model step.
//!
//! Every kind runs the same flow ([`Generator::generate`]): its own checks and source, the
//! title, the gates (processing time, room for one more item), its model work, then the
//! metered output; `kinds` holds what differs between kinds.
//!
//! The work runs inside the request, bounded by the input limits below. A source that has its
//! analysis already gives its findings (transcript, text, labels, description, summary) without
//! running a model again; one that has none runs the step on its bytes, and the result cache
//! keeps that result for the analysis job. A long recording without an analysis is not worked
//! on in a request: the client waits for the analysis (`analysis_pending`).

mod error;
mod kinds;
mod sources;
mod text;
mod voice;

use std::sync::Arc;
use std::time::Instant;

use tessera_actors::jobs::Pipelines;
use tessera_events::content::Generation;
use tessera_events::{ContentId, UserId};
use tessera_models::speech::MAX_TEXT_CHARS;

pub use error::GenerateError;
pub use text::timecode;
pub use voice::Voice;

use crate::content::{ContentService, GeneratedOutput, ItemView};
use crate::inference::{Metered, Metering};

/// The longest recording (in seconds) worked on in a request when it has no analysis yet.
pub const MAX_MEDIA_SECONDS_IN_REQUEST: f64 = 600.0;
/// Summary lengths accepted, in words.
pub const SUMMARY_WORDS: (usize, usize) = (10, 300);
/// The most text spoken in one request, in characters.
pub const MAX_SPEECH_CHARS: usize = MAX_TEXT_CHARS;

/// A generation asked for: its kind, and what that kind is made from.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Text read aloud: a new audio item.
    Speech { text: String, voice: Voice },
    /// A text item read aloud: a new audio item.
    Narration { content_id: ContentId, voice: Voice },
    /// Speech (an audio item, or a video's sound) written down: a new text item.
    Transcript {
        content_id: ContentId,
        timestamps: bool,
    },
    /// An image described, with the text read in it: a new text item.
    Description { content_id: ContentId },
    /// Any item summarised: a text's or a recording's words in at most `words` words, an
    /// image's description, a video's time-coded summary. A new text item.
    Summary {
        content_id: ContentId,
        words: Option<usize>,
    },
}

/// Runs generations for the edge: the library and the node's pipelines.
#[derive(Clone)]
pub struct Generator {
    content: ContentService,
    pipelines: Arc<Pipelines>,
    metering: Metering,
}

impl Generator {
    pub fn new(content: ContentService, pipelines: Arc<Pipelines>) -> Self {
        Self {
            metering: Metering::new(content.clone()),
            content,
            pipelines,
        }
    }

    /// The voices speech can be made with.
    pub fn voices(&self) -> Vec<String> {
        vec![self.pipelines.speech.info.id.clone()]
    }

    /// Makes `work` into a new item of `user`, titled `title` or after the work.
    pub async fn generate(
        &self,
        user: UserId,
        work: Work,
        title: Option<String>,
    ) -> Result<ItemView, GenerateError> {
        let planned = self.plan(user, work).await?;
        let title = text::title_or(title, || planned.default_title())?;
        self.gate(user).await?;
        let started = Instant::now();
        let made = self.make(&planned).await?;
        let generation = Generation {
            kind: planned.kind(),
            generated_from: planned.generated_from(),
            parameters: made.parameters,
            provenance: made.provenance,
            processing_ms: started.elapsed().as_millis() as u64,
        };
        let output = GeneratedOutput {
            title,
            body: made.body,
            generation,
        };
        self.finish(user, made.modality, made.tokens, made.audio_seconds, output)
            .await
    }

    /// The gates every generation passes before any work: processing time left today, and
    /// room for one more item.
    async fn gate(&self, user: UserId) -> Result<(), GenerateError> {
        self.metering.gate(user).await?;
        self.content.check_new_item_quota(user).await?;
        Ok(())
    }

    /// Meters the work, then stores its output as an item.
    async fn finish(
        &self,
        user: UserId,
        modality: tessera_events::content::Modality,
        (tokens_in, tokens_out): (u64, u64),
        audio_seconds: f64,
        output: GeneratedOutput,
    ) -> Result<ItemView, GenerateError> {
        let g = &output.generation;
        let model = g
            .provenance
            .last()
            .map(|p| p.model_id.clone())
            .unwrap_or_default();
        let metered = Metered {
            kind: g.kind.as_str().to_owned(),
            modality,
            model,
            tokens_in,
            tokens_out,
            audio_ms: 0,
            processing_ms: g.processing_ms,
        }
        .audio_seconds(audio_seconds);
        self.metering.record(user, metered).await?;
        tracing::info!(
            %user,
            kind = g.kind.as_str(),
            sources = ?g.generated_from,
            processing_ms = g.processing_ms,
            "generated an item"
        );
        Ok(self.content.create_generated(user, output).await?)
    }
}
