//! Conversations at the edge: commands on `conversation-<uuid>` streams, and the orchestrator
//! that answers a message. The answer is generated on the node that took the message; its
//! first piece is appended as `conversation.answer_streamed` at once, later ones at most every
//! `chat.stream_interval_ms` (pieces that arrive meanwhile travel together), so live sockets
//! on every node show it as it grows, and a client that reloads replays it from the log.
//!
//! Stopping an answer is a command like any other: it appends `conversation.answer_cancelled`
//! on whichever node it arrives. The generating node's next append then conflicts; it folds
//! the stream, sees the answer is no longer active and stops the model.

pub mod context;
pub mod providers;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use dashmap::DashMap;
use sqlx::PgPool;
use tessera_actors::jobs::Pipelines;
use tessera_events::aggregate::{self, Loaded};
use tessera_events::content::{ContentError, Modality};
use tessera_events::conversations::{
    conversation_stream, provider_stream, AnswerTimings, Conversation, ConversationCommand,
    ConversationError, ConversationEvent, ProviderEvent, MAX_ATTACHMENTS,
};
use tessera_events::{CommandContext, EventStore, ExpectedVersion, PgEventStore, StoreError};
use tessera_models::runtime::llama::{ChatMessage, GenerateOptions};
use tessera_projections::read_models::providers as rm_providers;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::content::{ContentFailure, ContentService, Metered};
use crate::error::ApiError;
use providers::{Provider, ProviderInfo, LOCAL};
pub use settings::ChatSettings;

/// The title of a conversation started without one.
pub const DEFAULT_TITLE: &str = "New conversation";

/// Why a chat command failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatFailure {
    #[error(transparent)]
    Conversation(#[from] ConversationError),
    #[error(transparent)]
    Content(#[from] ContentFailure),
    #[error("there is no chat provider {0:?}")]
    UnknownProvider(String),
    #[error("the chat provider {0:?} is disabled")]
    ProviderDisabled(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

impl From<ChatFailure> for ApiError {
    fn from(e: ChatFailure) -> Self {
        use actix_web::http::StatusCode;
        let msg = e.to_string();
        match e {
            ChatFailure::Conversation(c) => match c {
                ConversationError::NotFound => ApiError::not_found("conversation"),
                ConversationError::Exists => ApiError::conflict("already_exists", msg),
                ConversationError::AnswerInProgress => {
                    ApiError::conflict("answer_in_progress", msg)
                }
                ConversationError::AnswerNotActive => ApiError::conflict("answer_not_active", msg),
                ConversationError::Invalid(m) => {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", m)
                }
                ConversationError::Store(s) => s.into(),
            },
            ChatFailure::Content(c) => c.into(),
            ChatFailure::UnknownProvider(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_provider", msg)
                    .with_field("provider")
            }
            ChatFailure::ProviderDisabled(_) => {
                ApiError::conflict("provider_disabled", msg).with_field("provider")
            }
            ChatFailure::Store(s) => s.into(),
            ChatFailure::Sql(s) => s.into(),
        }
    }
}

/// A provider as listed: what it is and whether users may choose it now.
#[derive(Debug, Clone)]
pub struct ListedProvider {
    pub info: ProviderInfo,
    pub enabled: bool,
}

/// What posting a message started.
#[derive(Debug, Clone, Copy)]
pub struct Posted {
    pub message_id: Uuid,
    pub answer_id: Uuid,
    /// The conversation's stream version after the message.
    pub version: u64,
}

/// Conversations and their answers.
#[derive(Clone)]
pub struct ChatService {
    inner: Arc<Inner>,
}

struct Inner {
    store: PgEventStore,
    pool: PgPool,
    content: ContentService,
    pipelines: Arc<Pipelines>,
    settings: ChatSettings,
    providers: BTreeMap<String, Provider>,
    node: String,
    /// Cancel flags of the answers this node is generating.
    running: DashMap<Uuid, Arc<AtomicBool>>,
}

impl ChatService {
    pub fn new(
        store: PgEventStore,
        pool: PgPool,
        content: ContentService,
        pipelines: Arc<Pipelines>,
        settings: ChatSettings,
        node: String,
    ) -> Result<Self, String> {
        let mut all = BTreeMap::new();
        all.insert(
            LOCAL.to_owned(),
            Provider::Local {
                pipelines: pipelines.clone(),
            },
        );
        for (id, p) in &settings.providers {
            all.insert(id.clone(), Provider::remote(id, p.clone())?);
        }
        Ok(ChatService {
            inner: Arc::new(Inner {
                store,
                pool,
                content,
                pipelines,
                settings,
                providers: all,
                node,
                running: DashMap::new(),
            }),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Every provider with whether it is enabled now (an admin's last decision, else its
    /// configuration).
    pub async fn providers(&self) -> Result<Vec<ListedProvider>, ChatFailure> {
        let decisions: BTreeMap<String, bool> = rm_providers::all(&self.inner.pool)
            .await?
            .into_iter()
            .map(|r| (r.id, r.enabled))
            .collect();
        Ok(self
            .inner
            .providers
            .values()
            .map(|p| {
                let info = p.info();
                let enabled = decisions
                    .get(&info.id)
                    .copied()
                    .unwrap_or(info.enabled_by_default);
                ListedProvider { info, enabled }
            })
            .collect())
    }

    /// The provider `id`, if it exists and is enabled.
    async fn usable_provider(&self, id: &str) -> Result<Provider, ChatFailure> {
        let provider = self
            .inner
            .providers
            .get(id)
            .cloned()
            .ok_or_else(|| ChatFailure::UnknownProvider(id.to_owned()))?;
        // A command decides on the log itself, not on the read model that may lag it.
        let info = provider.info();
        let enabled = match self.inner.store.read_last(&provider_stream(id)).await? {
            Some(e) => matches!(
                <ProviderEvent as tessera_events::DomainEvent>::decode(&e)?,
                ProviderEvent::Enabled { .. }
            ),
            None => info.enabled_by_default,
        };
        if !enabled {
            return Err(ChatFailure::ProviderDisabled(id.to_owned()));
        }
        Ok(provider)
    }

    /// An admin enables or disables a provider.
    pub async fn set_provider_enabled(
        &self,
        admin: Uuid,
        id: &str,
        enabled: bool,
    ) -> Result<(), ChatFailure> {
        if !self.inner.providers.contains_key(id) {
            return Err(ChatFailure::UnknownProvider(id.to_owned()));
        }
        let stream = provider_stream(id);
        let event = if enabled {
            ProviderEvent::Enabled { by: admin }
        } else {
            ProviderEvent::Disabled { by: admin }
        };
        let ctx = self.ctx(admin);
        let data = ctx.to_event_data(&stream, &[event], None)?;
        self.inner
            .store
            .append(&stream, ExpectedVersion::Any, data)
            .await?;
        tracing::info!(%admin, provider = id, enabled, "chat provider changed");
        Ok(())
    }

    fn ctx(&self, actor: Uuid) -> CommandContext {
        let mut ctx = CommandContext::new(Some(actor));
        ctx.metadata.node = Some(self.inner.node.clone());
        ctx
    }

    /// Folds conversation `id` for `user`: another user's conversation is not found.
    pub async fn load(&self, user: Uuid, id: Uuid) -> Result<Loaded<Conversation>, ChatFailure> {
        let loaded =
            aggregate::load::<Conversation>(&self.inner.store, &conversation_stream(id)).await?;
        if !loaded.state.exists || loaded.state.deleted || loaded.state.owner != user {
            return Err(ConversationError::NotFound.into());
        }
        Ok(loaded)
    }

    async fn execute(
        &self,
        user: Uuid,
        id: Uuid,
        command: impl Fn() -> ConversationCommand,
    ) -> Result<(Vec<ConversationEvent>, u64), ChatFailure> {
        let ctx = self.ctx(user);
        Ok(aggregate::execute::<Conversation>(
            &self.inner.store,
            &conversation_stream(id),
            &ctx,
            Some(user),
            command,
        )
        .await?)
    }

    /// Starts a conversation; answers its id, recorded title and provider.
    pub async fn start(
        &self,
        owner: Uuid,
        title: Option<String>,
        provider: Option<String>,
    ) -> Result<(Uuid, String, String), ChatFailure> {
        let provider = provider.unwrap_or_else(|| self.inner.settings.default_provider.clone());
        self.usable_provider(&provider).await?;
        let id = Uuid::now_v7();
        let title = title.unwrap_or_else(|| DEFAULT_TITLE.to_owned());
        let (events, _) = self
            .execute(owner, id, || ConversationCommand::Start {
                owner,
                title: title.clone(),
                provider: provider.clone(),
            })
            .await?;
        // The title as recorded (cleaned by the aggregate).
        let title = match events.into_iter().next() {
            Some(ConversationEvent::Started { title, .. }) => title,
            _ => title,
        };
        Ok((id, title, provider))
    }

    /// Renames a conversation and/or changes its provider.
    pub async fn update(
        &self,
        user: Uuid,
        id: Uuid,
        title: Option<String>,
        provider: Option<String>,
    ) -> Result<(), ChatFailure> {
        self.load(user, id).await?;
        if let Some(p) = &provider {
            self.usable_provider(p).await?;
        }
        if let Some(title) = title {
            self.execute(user, id, || ConversationCommand::Rename {
                title: title.clone(),
            })
            .await?;
        }
        if let Some(provider) = provider {
            self.execute(user, id, || ConversationCommand::ChangeProvider {
                provider: provider.clone(),
            })
            .await?;
        }
        Ok(())
    }

    /// Deletes a conversation (an answer being written stops).
    pub async fn delete(&self, user: Uuid, id: Uuid) -> Result<(), ChatFailure> {
        self.load(user, id).await?;
        let at = Utc::now();
        self.execute(user, id, || ConversationCommand::Delete { at })
            .await?;
        Ok(())
    }

    /// Stops every answer this node is writing (the node is shutting down).
    pub fn stop_all(&self) {
        for flag in self.inner.running.iter() {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// Stops the answer being written.
    pub async fn cancel(&self, user: Uuid, id: Uuid, answer_id: Uuid) -> Result<(), ChatFailure> {
        self.load(user, id).await?;
        if let Some(flag) = self.inner.running.get(&answer_id) {
            flag.store(true, Ordering::SeqCst);
        }
        self.execute(user, id, || ConversationCommand::Cancel {
            answer_id,
            by: Some(user),
        })
        .await?;
        tracing::info!(conversation = %id, answer = %answer_id, "answer stopped by its owner");
        Ok(())
    }

    /// Posts a message and starts its answer in the background.
    pub async fn post(
        &self,
        user: Uuid,
        id: Uuid,
        text: String,
        attachments: Vec<Uuid>,
    ) -> Result<Posted, ChatFailure> {
        let mut loaded = self.load(user, id).await?;
        if let Some(active) = loaded.state.answering.clone() {
            if !self.abandoned(id, active.answer_id).await? {
                return Err(ConversationError::AnswerInProgress.into());
            }
            tracing::warn!(conversation = %id, answer = %active.answer_id, node = %active.node, "answer abandoned by its node");
            match self
                .execute(user, id, || ConversationCommand::Fail {
                    answer_id: active.answer_id,
                    code: ErrorCode::AnswerAbandoned.as_str().to_owned(),
                    message: "the node writing this answer stopped before it ended".into(),
                })
                .await
            {
                Ok(_) | Err(ChatFailure::Conversation(ConversationError::AnswerNotActive)) => {}
                Err(e) => return Err(e),
            }
            loaded = self.load(user, id).await?;
        }
        let mut attachments_unique = Vec::with_capacity(attachments.len());
        for a in attachments {
            if !attachments_unique.contains(&a) {
                attachments_unique.push(a);
            }
        }
        if attachments_unique.len() > MAX_ATTACHMENTS {
            return Err(ConversationError::Invalid(format!(
                "a message carries at most {MAX_ATTACHMENTS} attachments"
            ))
            .into());
        }
        for a in &attachments_unique {
            self.check_attachment(user, *a).await?;
        }
        let provider_id = loaded.state.provider.clone();
        let provider = self.usable_provider(&provider_id).await?;
        self.inner.content.check_processing_quota(user).await?;
        let message_id = Uuid::now_v7();
        let answer_id = Uuid::now_v7();
        let model = provider.info().model;
        let node = self.inner.node.clone();
        let (_, version) = self
            .execute(user, id, || ConversationCommand::Post {
                message_id,
                text: text.clone(),
                attachments: attachments_unique.clone(),
                answer_id,
                provider: provider_id.clone(),
                model: model.clone(),
                node: node.clone(),
            })
            .await?;
        let job = Generation {
            service: self.clone(),
            owner: user,
            conversation: id,
            answer_id,
            text,
            attachments: attachments_unique,
            history: loaded
                .state
                .turns
                .iter()
                .map(|t| (t.role, t.text.clone()))
                .collect(),
            provider,
            version,
        };
        let cancel = Arc::new(AtomicBool::new(false));
        self.inner.running.insert(answer_id, cancel.clone());
        actix_web::rt::spawn(job.run(cancel));
        tracing::info!(conversation = %id, message = %message_id, answer = %answer_id, provider = %provider_id, "message posted");
        Ok(Posted {
            message_id,
            answer_id,
            version,
        })
    }

    /// Whether the answer in progress was left behind by a node that stopped: no node of this
    /// process writes it, and nothing was appended for longer than any answer may take (its
    /// generator would have timed out by then).
    async fn abandoned(&self, id: Uuid, answer_id: Uuid) -> Result<bool, ChatFailure> {
        if self.inner.running.contains_key(&answer_id) {
            return Ok(false);
        }
        let last = self
            .inner
            .store
            .read_last(&conversation_stream(id))
            .await?
            .map(|e| e.recorded_at);
        let limit = chrono::Duration::seconds(self.inner.settings.answer_timeout_secs as i64 + 2);
        Ok(last.is_some_and(|at| Utc::now() - at > limit))
    }

    /// An attachment must be the user's own item, not deleted.
    async fn check_attachment(&self, user: Uuid, id: Uuid) -> Result<(), ChatFailure> {
        let f = self.inner.content.fold(id).await?;
        let ok = f.state.uploaded.as_ref().is_some_and(|u| u.owner == user)
            && f.state.deleted.is_none()
            && !f.state.purged;
        if !ok {
            return Err(ContentFailure::from(ContentError::NotFound).into());
        }
        Ok(())
    }
}

/// One answer being generated.
struct Generation {
    service: ChatService,
    owner: Uuid,
    conversation: Uuid,
    answer_id: Uuid,
    text: String,
    attachments: Vec<Uuid>,
    /// The turns before the message: (role, text).
    history: Vec<(&'static str, String)>,
    provider: Provider,
    version: u64,
}

/// How the streaming of pieces ended.
enum Streamed {
    /// Every piece is in the log.
    Done,
    /// The answer was stopped (or the conversation deleted) elsewhere.
    Stopped,
}

impl Generation {
    async fn run(self, cancel: Arc<AtomicBool>) {
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
        let built = context::build(
            &inner.content,
            &inner.pipelines,
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
                        "context_unavailable",
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
            // The local model reuses the state of this user's earlier prompts only.
            cache_scope: Some(self.owner.to_string()),
            ..GenerateOptions::default()
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let generated_at = Instant::now();
        let generate = tokio::time::timeout(
            Duration::from_secs(settings.answer_timeout_secs.max(1)),
            self.provider.answer(messages, options, cancel.clone(), tx),
        );
        let stream = self.stream_pieces(rx, cancel.clone());
        let (result, streamed) = tokio::join!(generate, stream);
        let generation_ms = generated_at.elapsed().as_millis() as u64;
        let local = matches!(self.provider, Provider::Local { .. });
        let meter = |model: &str, tokens_in: u64, tokens_out: u64| Metered {
            kind: "chat".into(),
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
                    .fail("answer_timeout", "the answer took too long and was stopped")
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
                            answer_id: self.answer_id,
                            finish_reason: answer.finish_reason.clone(),
                            model: answer.model.clone(),
                            tokens_in: answer.tokens_in,
                            tokens_out: answer.tokens_out,
                            timings,
                            context: built.sources.clone(),
                        }
                    })
                    .await;
                match completed {
                    Ok(_) => {
                        tracing::info!(answer = %self.answer_id, tokens_out = answer.tokens_out, ms = timings.total_ms, "answer completed");
                        Ok(())
                    }
                    Err(ChatFailure::Conversation(
                        ConversationError::AnswerNotActive | ConversationError::NotFound,
                    )) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => {
                self.record(meter(&self.provider.info().model, 0, 0)).await;
                if matches!(streamed, Streamed::Stopped) || cancel.load(Ordering::SeqCst) {
                    return self.ensure_cancelled().await;
                }
                tracing::warn!(answer = %self.answer_id, code = %e.code, error = %e.message, "answer failed");
                self.fail(&e.code, e.message).await
            }
        }
    }

    async fn record(&self, metered: Metered) {
        if let Err(e) = self
            .service
            .inner
            .content
            .record_generation(self.owner, metered)
            .await
        {
            tracing::error!(answer = %self.answer_id, error = %e, "chat usage not recorded");
        }
    }

    async fn ensure_cancelled(&self) -> Result<(), ChatFailure> {
        match self
            .service
            .execute(self.owner, self.conversation, || {
                ConversationCommand::Cancel {
                    answer_id: self.answer_id,
                    by: None,
                }
            })
            .await
        {
            Ok(_)
            | Err(ChatFailure::Conversation(
                ConversationError::AnswerNotActive | ConversationError::NotFound,
            )) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn fail(&self, code: &str, message: impl Into<String>) -> Result<(), ChatFailure> {
        let message = message.into();
        match self
            .service
            .execute(self.owner, self.conversation, || {
                ConversationCommand::Fail {
                    answer_id: self.answer_id,
                    code: code.to_owned(),
                    message: message.clone(),
                }
            })
            .await
        {
            Ok(_)
            | Err(ChatFailure::Conversation(
                ConversationError::AnswerNotActive | ConversationError::NotFound,
            )) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Appends the pieces as they come; whatever arrived during an append goes in the next.
    async fn stream_pieces(
        &self,
        mut rx: mpsc::UnboundedReceiver<String>,
        cancel: Arc<AtomicBool>,
    ) -> Result<Streamed, ChatFailure> {
        let inner = &self.service.inner;
        let stream = conversation_stream(self.conversation);
        let mut version = self.version;
        let mut seq = 0u32;
        let interval = Duration::from_millis(inner.settings.stream_interval_ms);
        let mut last_append: Option<Instant> = None;
        while let Some(first) = rx.recv().await {
            // The first piece goes at once; later ones at most once per interval, together.
            if let Some(at) = last_append {
                let next = at + interval;
                if next > Instant::now() {
                    tokio::time::sleep_until(next.into()).await;
                }
            }
            let mut delta = first;
            while let Ok(more) = rx.try_recv() {
                delta.push_str(&more);
            }
            loop {
                let event = ConversationEvent::AnswerStreamed {
                    answer_id: self.answer_id,
                    seq: seq + 1,
                    delta: delta.clone(),
                };
                let ctx = self.service.ctx(self.owner);
                let data = ctx.to_event_data(&stream, &[event], Some(self.owner))?;
                match inner
                    .store
                    .append(&stream, ExpectedVersion::Exact(version), data)
                    .await
                {
                    Ok(r) => {
                        version = r.next_expected_version;
                        seq += 1;
                        last_append = Some(Instant::now());
                        break;
                    }
                    Err(e) if e.is_concurrency_conflict() => {
                        let loaded = aggregate::load::<Conversation>(&inner.store, &stream).await?;
                        match &loaded.state.answering {
                            Some(a) if a.answer_id == self.answer_id && !loaded.state.deleted => {
                                version = loaded.version;
                                seq = a.seq;
                            }
                            _ => {
                                // Stopped elsewhere: stop the model; dropping the receiver
                                // ends the generation at its next piece too.
                                cancel.store(true, Ordering::SeqCst);
                                return Ok(Streamed::Stopped);
                            }
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Streamed::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_stable_codes() {
        let e: ApiError = ChatFailure::Conversation(ConversationError::AnswerInProgress).into();
        assert_eq!(e.code, "answer_in_progress");
        let e: ApiError = ChatFailure::ProviderDisabled("x".into()).into();
        assert_eq!(e.code, "provider_disabled");
        let e: ApiError = ChatFailure::UnknownProvider("x".into()).into();
        assert_eq!(e.code, "unknown_provider");
        let e: ApiError = ChatFailure::Conversation(ConversationError::NotFound).into();
        assert_eq!(e.code, "not_found");
    }
}
