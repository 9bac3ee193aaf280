//! What the conversation and provider routes read and write: conversations, messages and
//! answers, chat providers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_events::conversations::MAX_ATTACHMENTS;
use tessera_projections::read_models::conversations::{ConversationRow, MessageRow};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::conversations::ListedProvider;
use crate::routes::capped::Capped;

/// A conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: Uuid,
    pub title: String,
    /// The provider answers come from.
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Messages and answers so far.
    pub messages: i32,
    /// The answer being written, if any.
    pub answering: Option<Uuid>,
    /// The log position of the conversation's last event: a live socket resumed from here
    /// receives what comes after.
    pub position: i64,
}

impl From<ConversationRow> for ConversationView {
    fn from(r: ConversationRow) -> Self {
        ConversationView {
            id: r.id,
            title: r.title,
            provider: r.provider,
            created_at: r.created_at,
            updated_at: r.updated_at,
            messages: r.messages,
            answering: r.answering,
            position: r.last_position,
        }
    }
}

/// A message or an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// 1, 2, ... in the conversation.
    pub seq: i32,
    /// `user` or `assistant`.
    pub role: String,
    pub text: String,
    /// Content items attached (user messages).
    pub attachments: Vec<Uuid>,
    /// The message an answer replies to.
    pub in_reply_to: Option<Uuid>,
    /// `posted` (a message); `streaming`, `completed`, `cancelled` or `failed` (an answer).
    pub status: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// `stop`, `length`, or `loop` (cut where the model began repeating itself).
    pub finish_reason: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    /// `context_ms`, `first_token_ms`, `total_ms`, `decode_tokens_per_s`, `cached_prompt_tokens`.
    #[schema(value_type = Option<Object>)]
    pub timings: Option<serde_json::Value>,
    /// What went into the answer: items, which of their parts, and where the passages it rests
    /// on are in them.
    #[schema(value_type = Option<Vec<tessera_events::conversations::ContextSource>>)]
    pub context: Option<serde_json::Value>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MessageRow> for MessageView {
    fn from(r: MessageRow) -> Self {
        MessageView {
            id: r.id,
            seq: r.seq,
            role: r.role,
            text: r.text,
            attachments: r.attachments.0,
            in_reply_to: r.in_reply_to,
            status: r.status,
            provider: r.provider,
            model: r.model,
            finish_reason: r.finish_reason,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            timings: r.timings.map(|j| j.0),
            context: r.context.map(|j| j.0),
            error_code: r.error_code,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A conversation with its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub items: Vec<MessageView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<ConversationView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartConversation {
    /// Default "New conversation".
    pub title: Option<String>,
    /// `local` (default) or an enabled provider's id.
    pub provider: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversation {
    pub title: Option<String>,
    pub provider: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// What the user says (may be empty when there are attachments).
    #[serde(default)]
    pub text: String,
    /// Items of the user's library (upload a file with `POST /api/content` first); at most 16.
    #[serde(default)]
    #[schema(value_type = Vec<Uuid>, max_items = 16)]
    pub attachments: Capped<Uuid, MAX_ATTACHMENTS>,
}

/// A message with files uploaded inline: each `file` becomes an item of the user's library
/// (as with `POST /api/content`) and is attached.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct MessageForm {
    pub text: Option<String>,
    /// Library item ids, one per part or comma-separated.
    pub attachments: Option<String>,
    /// Any number of files, up to the attachment limit.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<Vec<u8>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageAccepted {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    /// The answer; it streams over `/api/ws` as `conversation.answer_streamed` events and ends
    /// with `conversation.answer_completed`, `_cancelled` or `_failed`.
    pub answer_id: Uuid,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100 (default 30).
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// A chat provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    /// `local` or `openai_compatible`.
    pub kind: String,
    pub model: String,
    pub enabled: bool,
    /// Admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl ProviderView {
    /// A provider as listed; only admins see where a remote one is.
    pub fn of(p: ListedProvider, admin: bool) -> Self {
        ProviderView {
            id: p.info.id,
            name: p.info.name,
            kind: p.info.kind.into(),
            model: p.info.model,
            enabled: p.enabled,
            base_url: if admin { p.info.base_url } else { None },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderView>,
}
