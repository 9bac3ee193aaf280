//! Text the language model composes from findings: an image's description, kept only where the
//! grounding check finds it supported.

use tessera_events::content::analysis::{step, Label, Statement, StatementSource};
use tessera_events::jobs::Provenance;
use tessera_models::runtime::llama::{ChatMessage, GenerateOptions};
use tessera_models::text::chat::ChatRequest;

use super::grounding::Sources;
use super::params::ComposeParams;
use super::progress::note_tokens;
use super::statements::LABEL_SURE;
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

/// The system prompt of an image's description.
pub const DESCRIBE_SYSTEM: &str = "You describe pictures for a photo library. Use only the facts \
given. Answer with one or two plain sentences.";
/// The longest description, in tokens.
pub const DESCRIBE_MAX_TOKENS: usize = 80;

/// What the language model is asked for an image's description, and what its answer is checked
/// against: the labels sure enough to state, and the text read in the picture.
pub struct DescriptionPrompt {
    /// The findings as told to the model (also the cache key of its answer).
    pub facts: String,
    /// The user message.
    pub user: String,
    /// The words an answer may use.
    pub sources: Sources,
}

impl DescriptionPrompt {
    pub fn new(labels: &[Label], text: &str) -> Self {
        // The model is told, and checked against, only what is sure enough to state.
        let sure: Vec<&Label> = labels.iter().filter(|l| l.score >= LABEL_SURE).collect();
        let listed: Vec<String> = sure
            .iter()
            .map(|l| format!("{} ({:.0}%)", l.name, l.score * 100.0))
            .collect();
        let text: String = text.chars().take(1500).collect();
        let facts = format!(
            "Objects a classifier saw in the picture, most likely first: {}.\nText read in the picture: {}",
            if listed.is_empty() { "nothing certain".to_owned() } else { listed.join(", ") },
            if text.trim().is_empty() { "none".to_owned() } else { format!("\"{}\"", text.trim()) },
        );
        let sources = Sources::new(sure.iter().map(|l| l.name.as_str()).chain([text.as_str()]));
        DescriptionPrompt {
            user: format!("{facts}\nDescribe the picture."),
            facts,
            sources,
        }
    }
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

    /// The language model's description of an image from its labels and text, checked against
    /// them: only the sentences every word of which the findings support come back, as
    /// statements of the model; the others are logged and dropped.
    pub(super) async fn describe(
        &self,
        labels: &[Label],
        text: &str,
        provenance: &mut Vec<Provenance>,
    ) -> Result<Vec<Statement>, StepError> {
        let prompt = DescriptionPrompt::new(labels, text);
        let prose = self
            .composed(
                Composition {
                    step: step::IMAGE_DESCRIPTION,
                    prompt: "describe-v2",
                    system: DESCRIBE_SYSTEM,
                    user: prompt.user.clone(),
                    max_tokens: DESCRIBE_MAX_TOKENS,
                },
                &prompt.facts,
                provenance,
            )
            .await?;
        let checked = prompt.sources.check(&prose);
        for r in &checked.rejected {
            tracing::debug!(
                sentence = %r.sentence,
                unsupported = ?r.unsupported,
                "a description sentence the findings do not support was left out"
            );
        }
        Ok(checked
            .kept
            .into_iter()
            .map(|text| Statement {
                text,
                source: StatementSource::Model {
                    model: self.chat.info.id.clone(),
                },
                confidence: None,
                uncertain: false,
            })
            .collect())
    }
}
