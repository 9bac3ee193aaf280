//! Conversations, stream `conversation-<uuid>`: a user's chat with a model provider. Messages
//! carry text and attachments (content items of the library); each message gets one answer,
//! which is streamed into the log piece by piece (`conversation.answer_streamed`), so a client
//! that reloads, or reconnects to another node, replays the answer so far and follows the rest.
//!
//! At most one answer is in progress per conversation. It ends completed, cancelled (by its
//! owner, from any node: the generator's next append conflicts and it stops) or failed.

mod conversation;
mod error;
mod events;
mod provider;
#[cfg(test)]
mod tests;

use crate::event::StreamId;
use crate::ids::ConversationId;

pub use conversation::{clean_title, ActiveAnswer, Conversation, ConversationCommand, Turn};
pub use error::ConversationError;
pub use events::{AnswerTimings, ContextSource, ConversationEvent};
pub use provider::{provider_stream, ProviderEvent};

/// The stream of conversation `id`.
pub fn conversation_stream(id: impl Into<ConversationId>) -> StreamId {
    StreamId::for_entity("conversation", id.into())
}

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;
/// The most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 16;
