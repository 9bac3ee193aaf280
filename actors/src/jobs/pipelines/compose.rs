//! Text the language model composes from findings: an image's description, a video's
//! time-coded summary.

use tessera_events::content::analysis::{step, Label};
use tessera_events::jobs::Provenance;
use tessera_models::runtime::llama::{ChatMessage, GenerateOptions};
use tessera_models::text::chat::ChatRequest;

use super::params::ComposeParams;
use super::progress::note_tokens;
use super::support::sha256_hex;
use super::Pipelines;
use crate::jobs::cache::cached;
use crate::jobs::StepError;

/// What to ask the language model for.
pub(super) struct Composition {
    /// The provenance step (see [`step`]).
    pub step: &'static str,
    /// The version of the prompt, part of the cache key.
    pub prompt: &'static str,
    pub system: &'static str,
    pub user: String,
    pub max_tokens: usize,
}

impl Pipelines {
    /// Text the LLM composes (greedy), cached by the `facts` it is composed from: the same
    /// findings give the same text without running the model again.
    pub(super) async fn composed(
        &self,
        ask: Composition,
        facts: &str,
        provenance: &mut Vec<Provenance>,
    ) -> Result<String, StepError> {
        let messages = vec![ChatMessage::system(ask.system), ChatMessage::user(ask.user)];
        let max_tokens = ask.max_tokens;
        let (text, p) = cached(
            self.store.as_ref(),
            &sha256_hex(facts.as_bytes()),
            ask.step,
            &self.chat.info,
            &ComposeParams {
                prompt: ask.prompt,
                temperature: 0.0,
                max_tokens,
            },
            async {
                let g = self
                    .chat
                    .infer(ChatRequest::new(
                        messages,
                        GenerateOptions::greedy(max_tokens),
                    ))
                    .await?;
                note_tokens(&g);
                Ok(g.text.trim().to_owned())
            },
        )
        .await?;
        provenance.push(p);
        Ok(text)
    }

    /// A short description of an image composed by the LLM from its labels and text.
    pub(super) async fn describe(
        &self,
        labels: &[Label],
        text: &str,
        provenance: &mut Vec<Provenance>,
    ) -> Result<String, StepError> {
        let listed: Vec<String> = labels
            .iter()
            .filter(|l| l.score >= 0.05)
            .map(|l| format!("{} ({:.0}%)", l.name, l.score * 100.0))
            .collect();
        let text: String = text.chars().take(1500).collect();
        let facts = format!(
            "Objects a classifier saw in the picture, most likely first: {}.\nText read in the picture: {}",
            if listed.is_empty() { "nothing certain".to_owned() } else { listed.join(", ") },
            if text.trim().is_empty() { "none".to_owned() } else { format!("\"{}\"", text.trim()) },
        );
        self.composed(
            Composition {
                step: step::IMAGE_DESCRIPTION,
                prompt: "describe-v1",
                system: "You describe pictures for a photo library. Use only the facts given. Answer with one or two plain sentences.",
                user: format!("{facts}\nDescribe the picture."),
                max_tokens: 80,
            },
            &facts,
            provenance,
        )
        .await
    }
}
