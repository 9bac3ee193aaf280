//! One answer being written: its context built, the provider asked, its pieces appended as
//! they come ([`pieces`]), the work metered, and its end recorded (completed, cancelled or
//! failed).

mod pieces;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_events::content::Modality;
use tessera_events::conversations::{AnswerTimings, ConversationCommand, ConversationError};
use tessera_events::{AnswerId, ConversationId, ErrorCode, UserId};
use tessera_models::runtime::llama::{ChatMessage, GenerateOptions};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::providers::Provider;
use super::{context, findings, ChatFailure, ChatService};
use crate::inference::metering::kind;
use crate::inference::Metered;
use pieces::Streamed;

/// The `model` of an answer read from the findings.
pub const FINDINGS_MODEL: &str = "findings";

/// One answer being generated.
pub(super) struct Generation {
    pub service: ChatService,
    pub owner: UserId,
    pub conversation: ConversationId,
    pub answer_id: Uuid,
    pub text: String,
    pub attachments: Vec<Uuid>,
    /// The turns before the message: (role, text).
    pub history: Vec<(&'static str, String)>,
    pub provider: Provider,
    /// The conversation's stream version after the message.
    pub version: u64,
}

impl Generation {
    /// Writes the answer to its end; the answer's cancel flag stops it early.
    pub async fn run(self, cancel: Arc<AtomicBool>) {
        let inner = self.service.inner.clone();
        let answer_id = self.answer_id;
        let started = Instant::now();
        let outcome = self.answer(cancel, started).await;
        inner.running.remove(&answer_id);
        if let Err(e) = outcome {
            tracing::error!(answer = %answer_id, error = %e, "answer could not be recorded");
        }
    }

    async fn answer(self, cancel: Arc<AtomicBool>, started: Instant) -> Result<(), ChatFailure> {
        let inner = &self.service.inner;
        let settings = &inner.settings;
        // The local model improvises where it should quote: questions the findings answer by
        // themselves are answered from them, before any context is built for a model.
        if matches!(self.provider, Provider::Local { .. }) {
            let attachments = &self.attachments;
            match findings::answer(&inner.content, self.owner, &self.text, attachments).await {
                Ok(Some(quoted)) => {
                    let timing = (started.elapsed().as_millis() as u64, started);
                    return self.answer_with_findings(quoted, timing, cancel).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(answer = %self.answer_id, error = %e, "findings could not be read")
                }
            }
        }
        let built = context::build(
            &inner.content,
            inner.inference.pipelines(),
            &inner.pool,
            self.owner,
            &self.text,
            &self.attachments,
            settings,
        )
        .await;
        let built = match built {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(answer = %self.answer_id, error = %e, "context could not be built");
                return self
                    .fail(
                        ErrorCode::ContextUnavailable,
                        format!("the attachments could not be read: {e}"),
                    )
                    .await;
            }
        };
        let context_ms = started.elapsed().as_millis() as u64;
        let mut messages = vec![ChatMessage::system(built.system)];
        for (role, text) in &self.history {
            if !text.trim().is_empty() {
                messages.push(ChatMessage::new(*role, text.clone()));
            }
        }
        let question = if self.text.trim().is_empty() {
            "Tell me about the attached items.".to_owned()
        } else {
            self.text.clone()
        };
        messages.push(ChatMessage::user(question));
        let options = GenerateOptions {
            max_tokens: settings.max_answer_tokens.max(1),
            temperature: settings.temperature,
            ..GenerateOptions::default()
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let generated_at = Instant::now();
        let generate = tokio::time::timeout(
            Duration::from_secs(settings.answer_timeout_secs.max(1)),
            self.provider
                .answer(self.owner, messages, options, cancel.clone(), tx),
        );
        let stream = self.stream_pieces(rx, cancel.clone());
        let (result, streamed) = tokio::join!(generate, stream);
        let generation_ms = generated_at.elapsed().as_millis() as u64;
        let local = matches!(self.provider, Provider::Local { .. });
        let meter = |model: &str, tokens_in: u64, tokens_out: u64| Metered {
            kind: kind::CHAT.into(),
            modality: Modality::Text,
            model: model.to_owned(),
            tokens_in,
            tokens_out,
            audio_ms: 0,
            // Time on this node's models; a remote provider's time is not ours.
            processing_ms: if local { generation_ms } else { 0 },
        };
        let streamed = match streamed {
            Ok(s) => s,
            Err(e) => {
                cancel.store(true, Ordering::SeqCst);
                return Err(e);
            }
        };
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                cancel.store(true, Ordering::SeqCst);
                self.record(meter(&self.provider.info().model, 0, 0)).await;
                return self
                    .fail(
                        ErrorCode::AnswerTimeout,
                        "the answer took too long and was stopped",
                    )
                    .await;
            }
        };
        match result {
            Ok(answer) => {
                self.record(meter(&answer.model, answer.tokens_in, answer.tokens_out))
                    .await;
                if matches!(streamed, Streamed::Stopped)
                    || cancel.load(Ordering::SeqCst)
                    || answer.finish_reason == "cancelled"
                {
                    // Whoever stopped it recorded the cancellation; make sure it is recorded.
                    return self.ensure_cancelled().await;
                }
                let timings = AnswerTimings {
                    context_ms,
                    first_token_ms: answer.first_token_ms,
                    total_ms: started.elapsed().as_millis() as u64,
                    decode_tokens_per_s: answer.decode_tokens_per_s,
                    cached_prompt_tokens: answer.cached_prompt_tokens,
                };
                let completed = self
                    .service
                    .execute(self.owner, self.conversation, || {
                        ConversationCommand::Complete {
                            answer_id: AnswerId(self.answer_id),
                            finish_reason: answer.finish_reason.clone(),
                            model: answer.model.clone(),
                            tokens_in: answer.tokens_in,
                            tokens_out: answer.tokens_out,
                            timings,
                            context: built.sources.clone(),
                        }
                    })
                    .await;
                if completed.is_ok() {
                    tracing::info!(answer = %self.answer_id, tokens_out = answer.tokens_out, ms = timings.total_ms, "answer completed");
                }
                settled(completed)
            }
            Err(e) => {
                self.record(meter(&self.provider.info().model, 0, 0)).await;
                if matches!(streamed, Streamed::Stopped) || cancel.load(Ordering::SeqCst) {
                    return self.ensure_cancelled().await;
                }
                tracing::warn!(answer = %self.answer_id, code = %e.code, error = %e.message, "answer failed");
                self.fail(e.code, e.message).await
            }
        }
    }

    /// Streams an answer read from the findings and completes it: no model ran, so nothing is
    /// metered.
    async fn answer_with_findings(
        &self,
        findings::Quoted { text, sources }: findings::Quoted,
        (context_ms, started): (u64, Instant),
        cancel: Arc<AtomicBool>,
    ) -> Result<(), ChatFailure> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(text);
        drop(tx);
        if matches!(self.stream_pieces(rx, cancel).await?, Streamed::Stopped) {
            return self.ensure_cancelled().await;
        }
        let timings = AnswerTimings {
            context_ms,
            first_token_ms: 0,
            total_ms: started.elapsed().as_millis() as u64,
            decode_tokens_per_s: 0.0,
            cached_prompt_tokens: 0,
        };
        let completed = self
            .service
            .execute(self.owner, self.conversation, || {
                ConversationCommand::Complete {
                    answer_id: AnswerId(self.answer_id),
                    finish_reason: "stop".into(),
                    model: FINDINGS_MODEL.into(),
                    tokens_in: 0,
                    tokens_out: 0,
                    timings,
                    context: sources.clone(),
                }
            })
            .await;
        settled(completed)
    }

    async fn record(&self, metered: Metered) {
        let metering = self.service.inner.inference.metering();
        if let Err(e) = metering.record(self.owner, metered).await {
            tracing::error!(answer = %self.answer_id, error = %e, "chat usage not recorded");
        }
    }

    async fn ensure_cancelled(&self) -> Result<(), ChatFailure> {
        let cancelled = self
            .service
            .execute(self.owner, self.conversation, || {
                ConversationCommand::Cancel {
                    answer_id: AnswerId(self.answer_id),
                    by: None,
                }
            })
            .await;
        settled(cancelled)
    }

    async fn fail(&self, code: ErrorCode, message: impl Into<String>) -> Result<(), ChatFailure> {
        let message = message.into();
        let failed = self
            .service
            .execute(self.owner, self.conversation, || {
                ConversationCommand::Fail {
                    answer_id: AnswerId(self.answer_id),
                    code: code.as_str().to_owned(),
                    message: message.clone(),
                }
            })
            .await;
        settled(failed)
    }
}

/// An answer's last command done, or not needed: the answer already ended (stopped
/// elsewhere) or its conversation is gone.
fn settled<T>(result: Result<T, ChatFailure>) -> Result<(), ChatFailure> {
    match result {
        Ok(_)
        | Err(ChatFailure::Conversation(
            ConversationError::AnswerNotActive | ConversationError::NotFound,
        )) => Ok(()),
        Err(e) => Err(e),
    }
}
