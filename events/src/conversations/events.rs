//! The events of a conversation's stream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::DomainEvent;
use crate::ids::{AnswerId, ContentId, MessageId, UserId};

/// What went into an answer's prompt besides the conversation itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContextSource {
    pub content_id: ContentId,
    /// What of the item was used: `text`, `transcript`, `ocr`, `labels`, `description`,
    /// `summary`, `keyframes`, `passage` (retrieved from the library).
    pub parts: Vec<String>,
    /// Whether the item's text had to be shortened to fit the context window.
    #[serde(default)]
    pub truncated: bool,
    /// Where the passages given to the model are in the item (retrieved from the library by
    /// search): what the answer rests on, for the client to link to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub places: Vec<crate::content::Place>,
}

/// How long an answer took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AnswerTimings {
    /// Building the context (reading attachments, retrieval).
    pub context_ms: u64,
    /// From the start of generation to the first token.
    pub first_token_ms: u64,
    /// From the message to the end of the answer.
    pub total_ms: u64,
    /// Tokens per second after the first token.
    pub decode_tokens_per_s: f64,
    /// Prompt tokens the model did not read again: their state was cached from an earlier
    /// prompt of the same user that began the same way.
    #[serde(default)]
    pub cached_prompt_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ConversationEvent {
    #[serde(rename = "conversation.started")]
    Started {
        owner: UserId,
        title: String,
        /// The provider answers come from (`local`, or a configured provider's id).
        provider: String,
    },
    #[serde(rename = "conversation.renamed")]
    Renamed { title: String },
    #[serde(rename = "conversation.provider_changed")]
    ProviderChanged { provider: String },
    #[serde(rename = "conversation.message_posted")]
    MessagePosted {
        message_id: MessageId,
        text: String,
        /// Content items of the owner's library.
        attachments: Vec<ContentId>,
    },
    #[serde(rename = "conversation.answer_started")]
    AnswerStarted {
        answer_id: AnswerId,
        in_reply_to: MessageId,
        provider: String,
        model: String,
        /// The node generating it.
        node: String,
    },
    /// A piece of the answer, in order (`seq` from 1).
    #[serde(rename = "conversation.answer_streamed")]
    AnswerStreamed {
        answer_id: AnswerId,
        seq: u32,
        delta: String,
    },
    #[serde(rename = "conversation.answer_completed")]
    AnswerCompleted {
        answer_id: AnswerId,
        /// The whole answer (the concatenation of the streamed pieces).
        text: String,
        /// `stop` (the model ended), `length` (the token limit).
        finish_reason: String,
        provider: String,
        model: String,
        tokens_in: u64,
        tokens_out: u64,
        timings: AnswerTimings,
        context: Vec<ContextSource>,
    },
    #[serde(rename = "conversation.answer_cancelled")]
    AnswerCancelled {
        answer_id: AnswerId,
        /// The answer as far as it was streamed.
        text: String,
        by: Option<UserId>,
    },
    #[serde(rename = "conversation.answer_failed")]
    AnswerFailed {
        answer_id: AnswerId,
        /// The answer as far as it was streamed.
        text: String,
        code: String,
        message: String,
    },
    #[serde(rename = "conversation.deleted")]
    Deleted { at: DateTime<Utc> },
}

impl DomainEvent for ConversationEvent {}
