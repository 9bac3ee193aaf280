//! Read model `conversations`: each user's conversations and their messages and answers (an
//! answer being written grows with each streamed piece).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::conversations::ConversationEvent;
use tessera_events::{ContentId, ConversationId, RecordedEvent, UserId};
use uuid::Uuid;

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "conversations";

const SETUP: &str = "
CREATE TABLE conversations (
    id            uuid        PRIMARY KEY,
    owner         uuid        NOT NULL,
    title         text        NOT NULL,
    provider      text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    messages      integer     NOT NULL DEFAULT 0,
    answering     uuid,
    deleted_at    timestamptz,
    last_position bigint      NOT NULL
);
CREATE INDEX conversations_owner ON conversations (owner, updated_at DESC, id DESC);
CREATE TABLE messages (
    id              uuid        PRIMARY KEY,
    conversation_id uuid        NOT NULL,
    seq             integer     NOT NULL,
    role            text        NOT NULL,
    text            text        NOT NULL,
    attachments     jsonb       NOT NULL DEFAULT '[]',
    in_reply_to     uuid,
    status          text        NOT NULL,
    provider        text,
    model           text,
    finish_reason   text,
    tokens_in       bigint,
    tokens_out      bigint,
    timings         jsonb,
    context         jsonb,
    error_code      text,
    error           text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (conversation_id, seq)
);
";

/// Projects `conversation.*` events into `conversations` and `messages`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConversationsProjection;

/// Adds a message row with the conversation's next sequence number.
async fn insert_message(
    conn: &mut PgConnection,
    conversation: Uuid,
    event: &RecordedEvent,
    row: NewMessage<'_>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "WITH c AS (
             UPDATE conversations SET messages = messages + 1, updated_at = $3,
                 last_position = $10
             WHERE id = $1 RETURNING messages
         )
         INSERT INTO messages (id, conversation_id, seq, role, text, attachments, in_reply_to,
             status, provider, model, created_at, updated_at)
         SELECT $2, $1, c.messages, $4, $5, $6, $7, $8, $9, $11, $3, $3 FROM c",
    )
    .bind(conversation)
    .bind(row.id)
    .bind(event.recorded_at)
    .bind(row.role)
    .bind(row.text)
    .bind(sqlx::types::Json(row.attachments))
    .bind(row.in_reply_to)
    .bind(row.status)
    .bind(row.provider)
    .bind(event.global_position as i64)
    .bind(row.model)
    .execute(conn)
    .await?;
    Ok(())
}

struct NewMessage<'a> {
    id: Uuid,
    role: &'a str,
    text: &'a str,
    attachments: &'a [ContentId],
    in_reply_to: Option<Uuid>,
    status: &'a str,
    provider: Option<&'a str>,
    model: Option<&'a str>,
}

#[async_trait]
impl Projection for ConversationsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn setup_sql(&self) -> &'static str {
        SETUP
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if !event.event_type.starts_with("conversation.") {
            return Ok(());
        }
        let id = entity_id(event, "conversation-")?;
        let at = event.recorded_at;
        let position = event.global_position as i64;
        use ConversationEvent as E;
        match decode::<ConversationEvent>(event)? {
            E::Started {
                owner,
                title,
                provider,
            } => {
                sqlx::query(
                    "INSERT INTO conversations (id, owner, title, provider, created_at,
                         updated_at, last_position)
                     VALUES ($1, $2, $3, $4, $5, $5, $6)",
                )
                .bind(id)
                .bind(owner)
                .bind(title)
                .bind(provider)
                .bind(at)
                .bind(position)
                .execute(conn)
                .await?;
            }
            E::Renamed { title } => {
                sqlx::query(
                    "UPDATE conversations SET title = $2, updated_at = $3, last_position = $4
                     WHERE id = $1",
                )
                .bind(id)
                .bind(title)
                .bind(at)
                .bind(position)
                .execute(conn)
                .await?;
            }
            E::ProviderChanged { provider } => {
                sqlx::query(
                    "UPDATE conversations SET provider = $2, updated_at = $3, last_position = $4
                     WHERE id = $1",
                )
                .bind(id)
                .bind(provider)
                .bind(at)
                .bind(position)
                .execute(conn)
                .await?;
            }
            E::MessagePosted {
                message_id,
                text,
                attachments,
            } => {
                insert_message(
                    conn,
                    id,
                    event,
                    NewMessage {
                        id: message_id.into_inner(),
                        role: "user",
                        text: &text,
                        attachments: &attachments,
                        in_reply_to: None,
                        status: "posted",
                        provider: None,
                        model: None,
                    },
                )
                .await?;
            }
            E::AnswerStarted {
                answer_id,
                in_reply_to,
                provider,
                model,
                ..
            } => {
                insert_message(
                    &mut *conn,
                    id,
                    event,
                    NewMessage {
                        id: answer_id.into_inner(),
                        role: "assistant",
                        text: "",
                        attachments: &[],
                        in_reply_to: Some(in_reply_to.into_inner()),
                        status: "streaming",
                        provider: Some(&provider),
                        model: Some(&model),
                    },
                )
                .await?;
                sqlx::query("UPDATE conversations SET answering = $2 WHERE id = $1")
                    .bind(id)
                    .bind(answer_id)
                    .execute(conn)
                    .await?;
            }
            E::AnswerStreamed {
                answer_id, delta, ..
            } => {
                sqlx::query("UPDATE messages SET text = text || $2, updated_at = $3 WHERE id = $1")
                    .bind(answer_id)
                    .bind(delta)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
                touch(conn, id, at, position, false).await?;
            }
            E::AnswerCompleted {
                answer_id,
                text,
                finish_reason,
                model,
                tokens_in,
                tokens_out,
                timings,
                context,
                ..
            } => {
                sqlx::query(
                    "UPDATE messages SET text = $2, status = 'completed', finish_reason = $3,
                         model = $4, tokens_in = $5, tokens_out = $6, timings = $7,
                         context = $8, updated_at = $9
                     WHERE id = $1",
                )
                .bind(answer_id)
                .bind(text)
                .bind(finish_reason)
                .bind(model)
                .bind(tokens_in as i64)
                .bind(tokens_out as i64)
                .bind(sqlx::types::Json(timings))
                .bind(sqlx::types::Json(context))
                .bind(at)
                .execute(&mut *conn)
                .await?;
                touch(conn, id, at, position, true).await?;
            }
            E::AnswerCancelled {
                answer_id, text, ..
            } => {
                sqlx::query(
                    "UPDATE messages SET text = $2, status = 'cancelled', updated_at = $3
                     WHERE id = $1",
                )
                .bind(answer_id)
                .bind(text)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                touch(conn, id, at, position, true).await?;
            }
            E::AnswerFailed {
                answer_id,
                text,
                code,
                message,
            } => {
                sqlx::query(
                    "UPDATE messages SET text = $2, status = 'failed', error_code = $3,
                         error = $4, updated_at = $5
                     WHERE id = $1",
                )
                .bind(answer_id)
                .bind(text)
                .bind(code)
                .bind(message)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                touch(conn, id, at, position, true).await?;
            }
            E::Deleted { at: deleted_at } => {
                sqlx::query(
                    "UPDATE conversations SET deleted_at = $2, answering = NULL,
                         updated_at = $3, last_position = $4
                     WHERE id = $1",
                )
                .bind(id)
                .bind(deleted_at)
                .bind(at)
                .bind(position)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE messages SET status = 'cancelled', updated_at = $2
                     WHERE conversation_id = $1 AND status = 'streaming'",
                )
                .bind(id)
                .bind(at)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// Marks the conversation active at `at`; `end_answer` also clears its answer in progress.
async fn touch(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
    position: i64,
    end_answer: bool,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE conversations SET updated_at = $2, last_position = $3,
             answering = CASE WHEN $4 THEN NULL ELSE answering END
         WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(position)
    .bind(end_answer)
    .execute(conn)
    .await?;
    Ok(())
}

/// A row of `conversations`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub owner: Uuid,
    pub title: String,
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub messages: i32,
    pub answering: Option<Uuid>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The log position of the conversation's last event (clients resume the live socket
    /// from it).
    pub last_position: i64,
}

/// A row of `messages`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i32,
    pub role: String,
    pub text: String,
    pub attachments: sqlx::types::Json<Vec<Uuid>>,
    pub in_reply_to: Option<Uuid>,
    pub status: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub finish_reason: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub timings: Option<sqlx::types::Json<serde_json::Value>>,
    pub context: Option<sqlx::types::Json<serde_json::Value>>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CONVERSATION_COLUMNS: &str = "id, owner, title, provider, created_at, updated_at, messages, \
                                    answering, deleted_at, last_position";

/// One conversation (deleted ones too; callers decide).
pub async fn get(
    pool: &PgPool,
    id: ConversationId,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM rm_conversations.conversations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A user's conversations that are not deleted, most recently active first, after the cursor
/// `(updated_at, id)` of the last one seen.
pub async fn list(
    pool: &PgPool,
    owner: UserId,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    let (at, id) = after.map_or((None, None), |(a, i)| (Some(a), Some(i)));
    sqlx::query_as(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM rm_conversations.conversations
         WHERE owner = $1 AND deleted_at IS NULL
           AND ($2::timestamptz IS NULL OR (updated_at, id) < ($2, $3))
         ORDER BY updated_at DESC, id DESC LIMIT $4"
    ))
    .bind(owner)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The messages and answers of a conversation, in order.
pub async fn messages(
    pool: &PgPool,
    conversation: ConversationId,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, conversation_id, seq, role, text, attachments, in_reply_to, status, provider,
                model, finish_reason, tokens_in, tokens_out, timings, context, error_code, error,
                created_at, updated_at
         FROM rm_conversations.messages WHERE conversation_id = $1 ORDER BY seq",
    )
    .bind(conversation)
    .fetch_all(pool)
    .await
}
