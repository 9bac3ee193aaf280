//! The conversations part of read model `search`: every message a user posted and every answer
//! they were given, cut into paragraphs, each embedded and with its `tsvector`, so that "what
//! did the assistant say about …" finds the conversation and the paragraph.
//!
//! A conversation's messages are its owner's alone: they are never searched on anyone else's
//! behalf. Deleting a conversation deletes them.

use chrono::{DateTime, Utc};
use pgvector::Vector;
use sqlx::{PgConnection, QueryBuilder};
use tessera_events::conversations::ConversationEvent;
use tessera_events::RecordedEvent;
use uuid::Uuid;

use super::chunks::paragraphs;
use crate::read_models::{decode, entity_id};
use crate::ProjectionError;

/// One paragraph of a message, waiting to be embedded.
pub(super) struct MessagePart {
    conversation: Uuid,
    message: Uuid,
    ord: i32,
    role: &'static str,
    pub(super) text: String,
    range: (i32, i32),
    at: DateTime<Utc>,
}

/// Message paragraphs waiting to be embedded and written.
#[derive(Default)]
pub(super) struct PendingMessages {
    pub(super) parts: Vec<MessagePart>,
}

impl PendingMessages {
    fn push(
        &mut self,
        conversation: Uuid,
        message: Uuid,
        role: &'static str,
        text: &str,
        at: DateTime<Utc>,
    ) {
        for (ord, (start, end)) in (0..).zip(paragraphs(text)) {
            let part = text[start..end].trim();
            if part.is_empty() {
                continue;
            }
            self.parts.push(MessagePart {
                conversation,
                message,
                ord,
                role,
                text: part.to_owned(),
                range: (start as i32, end as i32),
                at,
            });
        }
    }

    fn drop_conversation(&mut self, conversation: Uuid) {
        self.parts.retain(|p| p.conversation != conversation);
    }
}

/// Applies a conversation event; the paragraphs it adds wait in `pending`.
pub(super) async fn step(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    pending: &mut PendingMessages,
) -> Result<(), ProjectionError> {
    let id = entity_id(event, "conversation-")?;
    let at = event.recorded_at;
    match decode::<ConversationEvent>(event)? {
        ConversationEvent::Started { owner, title, .. } => {
            sqlx::query(
                "INSERT INTO conversations (id, owner, title) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(owner)
            .bind(&title)
            .execute(&mut *conn)
            .await?;
        }
        ConversationEvent::Renamed { title } => {
            sqlx::query("UPDATE conversations SET title = $2 WHERE id = $1")
                .bind(id)
                .bind(&title)
                .execute(&mut *conn)
                .await?;
        }
        ConversationEvent::MessagePosted {
            message_id, text, ..
        } => pending.push(id, message_id.into_inner(), "user", &text, at),
        // What the user was shown: a finished answer, or one stopped part way.
        ConversationEvent::AnswerCompleted {
            answer_id, text, ..
        }
        | ConversationEvent::AnswerCancelled {
            answer_id, text, ..
        } => pending.push(id, answer_id.into_inner(), "assistant", &text, at),
        ConversationEvent::Deleted { .. } => {
            pending.drop_conversation(id);
            sqlx::query("DELETE FROM conversations WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        ConversationEvent::ProviderChanged { .. }
        | ConversationEvent::AnswerStarted { .. }
        | ConversationEvent::AnswerStreamed { .. }
        | ConversationEvent::AnswerFailed { .. } => {}
    }
    Ok(())
}

/// Writes the paragraphs with their vectors (one of a conversation deleted meanwhile is not).
pub(super) async fn write(
    conn: &mut PgConnection,
    parts: &[(MessagePart, Vec<f32>)],
) -> Result<(), ProjectionError> {
    for batch in parts.chunks(1_000) {
        let mut q = QueryBuilder::new(
            "INSERT INTO messages (conversation_id, message_id, ord, owner, role, text, \
             byte_start, byte_end, created_at, embedding) \
             SELECT r.conversation_id, r.message_id, r.ord, c.owner, r.role, r.text, \
             r.byte_start, r.byte_end, r.created_at, r.embedding FROM (",
        );
        q.push_values(batch, |mut b, (p, v)| {
            b.push_bind(p.conversation)
                .push_bind(p.message)
                .push_bind(p.ord)
                .push_bind(p.role)
                .push_bind(&p.text)
                .push_bind(p.range.0)
                .push_bind(p.range.1)
                .push_bind(p.at)
                .push_bind(Vector::from(v.clone()));
        });
        q.push(
            ") AS r (conversation_id, message_id, ord, role, text, byte_start, byte_end, \
             created_at, embedding) JOIN conversations c ON c.id = r.conversation_id \
             ON CONFLICT (message_id, ord) DO NOTHING",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}
