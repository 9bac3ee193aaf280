//! Conversations at the edge: commands on `conversation-<uuid>` streams, and the orchestrator
//! that answers a message. The answer is generated on the node that took the message; its
//! first piece is appended as `conversation.answer_streamed` at once, later ones at most every
//! `chat.stream_interval_ms` (pieces that arrive meanwhile travel together), so live sockets
//! on every node show it as it grows, and a client that reloads replays it from the log.
//!
//! Stopping an answer is a command like any other: it appends `conversation.answer_cancelled`
//! on whichever node it arrives. The generating node's next append then conflicts; it folds
//! the stream, sees the answer is no longer active and stops the model.

mod answer;
pub mod context;
mod error;
pub mod findings;
pub mod providers;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;
use dashmap::DashMap;
use sqlx::PgPool;
use tessera_actors::jobs::Pipelines;
use tessera_events::aggregate::{self, Loaded};
use tessera_events::content::ContentError;
use tessera_events::conversations::{
    conversation_stream, provider_stream, Conversation, ConversationCommand, ConversationError,
    ConversationEvent, ProviderEvent, MAX_ATTACHMENTS,
};
use tessera_events::ErrorCode;
use tessera_events::{AnswerId, ContentId, ConversationId, MessageId, UserId};
use tessera_events::{CommandContext, EventStore, ExpectedVersion, PgEventStore};
use tessera_projections::read_models::providers as rm_providers;
use uuid::Uuid;

use crate::content::{ContentFailure, ContentService};
use crate::inference::Inference;
use answer::Generation;
pub use error::ChatFailure;
use providers::{Provider, ProviderInfo, LOCAL};
pub use settings::ChatSettings;

/// The title of a conversation started without one.
pub const DEFAULT_TITLE: &str = "New conversation";

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
    /// The node's models, behind the owner's quota and ledger.
    inference: Inference,
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
                inference: Inference::new(content.clone(), pipelines),
                content,
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
        admin: UserId,
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

    fn ctx(&self, actor: UserId) -> CommandContext {
        let mut ctx = CommandContext::new(Some(actor));
        ctx.metadata.node = Some(self.inner.node.clone());
        ctx
    }

    /// Folds conversation `id` for `user`: another user's conversation is not found.
    pub async fn load(
        &self,
        user: UserId,
        id: ConversationId,
    ) -> Result<Loaded<Conversation>, ChatFailure> {
        let loaded =
            aggregate::load::<Conversation>(&self.inner.store, &conversation_stream(id)).await?;
        if !loaded.state.exists || loaded.state.deleted || loaded.state.owner != Some(user) {
            return Err(ConversationError::NotFound.into());
        }
        Ok(loaded)
    }

    async fn execute(
        &self,
        user: UserId,
        id: ConversationId,
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
        owner: UserId,
        title: Option<String>,
        provider: Option<String>,
    ) -> Result<(Uuid, String, String), ChatFailure> {
        let provider = provider.unwrap_or_else(|| self.inner.settings.default_provider.clone());
        self.usable_provider(&provider).await?;
        let id = ConversationId::new();
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
        Ok((id.0, title, provider))
    }

    /// Renames a conversation and/or changes its provider.
    pub async fn update(
        &self,
        user: UserId,
        id: ConversationId,
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
    pub async fn delete(&self, user: UserId, id: ConversationId) -> Result<(), ChatFailure> {
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

    /// Stops the answer being written: only the one this conversation of the caller is
    /// writing, so an answer id of someone else's conversation stops nothing.
    pub async fn cancel(
        &self,
        user: UserId,
        id: ConversationId,
        answer_id: AnswerId,
    ) -> Result<(), ChatFailure> {
        let loaded = self.load(user, id).await?;
        let active = loaded.state.answering.as_ref().map(|a| a.answer_id);
        if active != Some(answer_id) {
            return Err(ConversationError::AnswerNotActive.into());
        }
        if let Some(flag) = self.inner.running.get(&answer_id.0) {
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

    /// Refuses a message to conversation `id` that would be refused anyway (not the user's, or
    /// an answer is being written): checked before a message's files are stored.
    pub async fn check_open(&self, user: UserId, id: ConversationId) -> Result<(), ChatFailure> {
        let loaded = self.load(user, id).await?;
        if loaded.state.answering.is_some() {
            return Err(ConversationError::AnswerInProgress.into());
        }
        Ok(())
    }

    /// Posts a message and starts its answer in the background.
    pub async fn post(
        &self,
        user: UserId,
        id: ConversationId,
        text: String,
        attachments: Vec<Uuid>,
    ) -> Result<Posted, ChatFailure> {
        let mut loaded = self.load(user, id).await?;
        if let Some(active) = loaded.state.answering.clone() {
            if !self.abandoned(id, active.answer_id.into_inner()).await? {
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
        let mut seen = std::collections::HashSet::with_capacity(attachments.len());
        let mut attachments_unique = attachments;
        attachments_unique.retain(|a| seen.insert(*a));
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
        self.inner.inference.metering().gate(user).await?;
        let message_id = Uuid::now_v7();
        let answer_id = Uuid::now_v7();
        let model = provider.info().model;
        let node = self.inner.node.clone();
        let (_, version) = self
            .execute(user, id, || ConversationCommand::Post {
                message_id: MessageId(message_id),
                text: text.clone(),
                attachments: attachments_unique.iter().copied().map(ContentId).collect(),
                answer_id: AnswerId(answer_id),
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
    async fn abandoned(&self, id: ConversationId, answer_id: Uuid) -> Result<bool, ChatFailure> {
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
    async fn check_attachment(&self, user: UserId, id: Uuid) -> Result<(), ChatFailure> {
        let f = self.inner.content.fold(ContentId(id)).await?;
        let ok = f.state.uploaded.as_ref().is_some_and(|u| u.owner == user)
            && f.state.deleted.is_none()
            && !f.state.purged;
        if !ok {
            return Err(ContentFailure::from(ContentError::NotFound).into());
        }
        Ok(())
    }
}
