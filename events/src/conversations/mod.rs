//! Conversations, stream `conversation-<uuid>`: a user's chat with a model provider. Messages
//! carry text and attachments (content items of the library); each message gets one answer,
//! which is streamed into the log piece by piece (`conversation.answer_streamed`), so a client
//! that reloads, or reconnects to another node, replays the answer so far and follows the rest.
//!
//! At most one answer is in progress per conversation. It ends completed, cancelled (by its
//! owner, from any node: the generator's next append conflicts and it stops) or failed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::StoreError;
use crate::event::StreamId;

/// The stream of conversation `id`.
pub fn conversation_stream(id: Uuid) -> StreamId {
    StreamId::for_entity("conversation", id)
}

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;
/// The most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 16;

/// What went into an answer's prompt besides the conversation itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextSource {
    pub content_id: Uuid,
    /// What of the item was used: `text`, `transcript`, `ocr`, `labels`, `description`,
    /// `summary`, `keyframes`, `passage` (retrieved from the library).
    pub parts: Vec<String>,
    /// Whether the item's text had to be shortened to fit the context window.
    #[serde(default)]
    pub truncated: bool,
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
        owner: Uuid,
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
        message_id: Uuid,
        text: String,
        /// Content items of the owner's library.
        attachments: Vec<Uuid>,
    },
    #[serde(rename = "conversation.answer_started")]
    AnswerStarted {
        answer_id: Uuid,
        in_reply_to: Uuid,
        provider: String,
        model: String,
        /// The node generating it.
        node: String,
    },
    /// A piece of the answer, in order (`seq` from 1).
    #[serde(rename = "conversation.answer_streamed")]
    AnswerStreamed {
        answer_id: Uuid,
        seq: u32,
        delta: String,
    },
    #[serde(rename = "conversation.answer_completed")]
    AnswerCompleted {
        answer_id: Uuid,
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
        answer_id: Uuid,
        /// The answer as far as it was streamed.
        text: String,
        by: Option<Uuid>,
    },
    #[serde(rename = "conversation.answer_failed")]
    AnswerFailed {
        answer_id: Uuid,
        /// The answer as far as it was streamed.
        text: String,
        code: String,
        message: String,
    },
    #[serde(rename = "conversation.deleted")]
    Deleted { at: DateTime<Utc> },
}

impl DomainEvent for ConversationEvent {}

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("conversation not found")]
    NotFound,
    #[error("the conversation already exists")]
    Exists,
    #[error("an answer is still being written; stop it or wait for it")]
    AnswerInProgress,
    #[error("that answer is not being written")]
    AnswerNotActive,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One turn of the conversation so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub id: Uuid,
    /// `user` or `assistant`.
    pub role: &'static str,
    pub text: String,
    pub attachments: Vec<Uuid>,
}

/// The answer being written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActiveAnswer {
    pub answer_id: Uuid,
    pub in_reply_to: Uuid,
    pub provider: String,
    pub model: String,
    pub node: String,
    /// The last piece's sequence number.
    pub seq: u32,
    /// The answer so far.
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub exists: bool,
    pub deleted: bool,
    pub owner: Uuid,
    pub title: String,
    pub provider: String,
    /// Messages and finished answers (a cancelled or failed answer keeps its partial text).
    pub turns: Vec<Turn>,
    pub answering: Option<ActiveAnswer>,
}

#[derive(Debug, Clone)]
pub enum ConversationCommand {
    Start {
        owner: Uuid,
        title: String,
        provider: String,
    },
    Rename {
        title: String,
    },
    ChangeProvider {
        provider: String,
    },
    /// Posts a message and starts its answer.
    Post {
        message_id: Uuid,
        text: String,
        attachments: Vec<Uuid>,
        answer_id: Uuid,
        provider: String,
        model: String,
        node: String,
    },
    Stream {
        answer_id: Uuid,
        delta: String,
    },
    Complete {
        answer_id: Uuid,
        finish_reason: String,
        model: String,
        tokens_in: u64,
        tokens_out: u64,
        timings: AnswerTimings,
        context: Vec<ContextSource>,
    },
    Cancel {
        answer_id: Uuid,
        by: Option<Uuid>,
    },
    Fail {
        answer_id: Uuid,
        code: String,
        message: String,
    },
    Delete {
        at: DateTime<Utc>,
    },
}

/// A title: trimmed, no control characters, 1 to [`MAX_TITLE_CHARS`] characters.
pub fn clean_title(title: &str) -> Result<String, ConversationError> {
    let t: String = title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned();
    if t.is_empty() {
        return Err(ConversationError::Invalid("the title is empty".into()));
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(ConversationError::Invalid(format!(
            "the title is longer than {MAX_TITLE_CHARS} characters"
        )));
    }
    Ok(t)
}

impl Conversation {
    fn live(&self) -> Result<(), ConversationError> {
        if !self.exists || self.deleted {
            return Err(ConversationError::NotFound);
        }
        Ok(())
    }

    fn active(&self, answer_id: Uuid) -> Result<&ActiveAnswer, ConversationError> {
        self.live()?;
        match &self.answering {
            Some(a) if a.answer_id == answer_id => Ok(a),
            _ => Err(ConversationError::AnswerNotActive),
        }
    }

    fn finish(&mut self, answer_id: Uuid, text: &str) {
        if let Some(a) = self.answering.take() {
            if a.answer_id == answer_id {
                self.turns.push(Turn {
                    id: answer_id,
                    role: "assistant",
                    text: text.to_owned(),
                    attachments: Vec::new(),
                });
            } else {
                self.answering = Some(a);
            }
        }
    }
}

impl Aggregate for Conversation {
    type Event = ConversationEvent;
    type Command = ConversationCommand;
    type Error = ConversationError;

    fn evolve(&mut self, event: &ConversationEvent) {
        use ConversationEvent as E;
        match event {
            E::Started {
                owner,
                title,
                provider,
            } => {
                self.exists = true;
                self.owner = *owner;
                self.title = title.clone();
                self.provider = provider.clone();
            }
            E::Renamed { title } => self.title = title.clone(),
            E::ProviderChanged { provider } => self.provider = provider.clone(),
            E::MessagePosted {
                message_id,
                text,
                attachments,
            } => self.turns.push(Turn {
                id: *message_id,
                role: "user",
                text: text.clone(),
                attachments: attachments.clone(),
            }),
            E::AnswerStarted {
                answer_id,
                in_reply_to,
                provider,
                model,
                node,
            } => {
                self.answering = Some(ActiveAnswer {
                    answer_id: *answer_id,
                    in_reply_to: *in_reply_to,
                    provider: provider.clone(),
                    model: model.clone(),
                    node: node.clone(),
                    seq: 0,
                    text: String::new(),
                })
            }
            E::AnswerStreamed {
                answer_id,
                seq,
                delta,
            } => {
                if let Some(a) = self.answering.as_mut() {
                    if a.answer_id == *answer_id {
                        a.seq = *seq;
                        a.text.push_str(delta);
                    }
                }
            }
            E::AnswerCompleted {
                answer_id, text, ..
            }
            | E::AnswerCancelled {
                answer_id, text, ..
            }
            | E::AnswerFailed {
                answer_id, text, ..
            } => self.finish(*answer_id, text),
            E::Deleted { .. } => {
                self.deleted = true;
                self.answering = None;
            }
        }
    }

    fn decide(
        &self,
        command: ConversationCommand,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        use ConversationCommand as C;
        use ConversationEvent as E;
        match command {
            C::Start {
                owner,
                title,
                provider,
            } => {
                if self.exists {
                    return Err(ConversationError::Exists);
                }
                Ok(vec![E::Started {
                    owner,
                    title: clean_title(&title)?,
                    provider,
                }])
            }
            C::Rename { title } => {
                self.live()?;
                let title = clean_title(&title)?;
                if title == self.title {
                    return Ok(vec![]);
                }
                Ok(vec![E::Renamed { title }])
            }
            C::ChangeProvider { provider } => {
                self.live()?;
                if provider == self.provider {
                    return Ok(vec![]);
                }
                Ok(vec![E::ProviderChanged { provider }])
            }
            C::Post {
                message_id,
                text,
                attachments,
                answer_id,
                provider,
                model,
                node,
            } => {
                self.live()?;
                if self.answering.is_some() {
                    return Err(ConversationError::AnswerInProgress);
                }
                if text.trim().is_empty() && attachments.is_empty() {
                    return Err(ConversationError::Invalid(
                        "a message needs text or an attachment".into(),
                    ));
                }
                if text.chars().count() > MAX_MESSAGE_CHARS {
                    return Err(ConversationError::Invalid(format!(
                        "the message is longer than {MAX_MESSAGE_CHARS} characters"
                    )));
                }
                if attachments.len() > MAX_ATTACHMENTS {
                    return Err(ConversationError::Invalid(format!(
                        "a message carries at most {MAX_ATTACHMENTS} attachments"
                    )));
                }
                Ok(vec![
                    E::MessagePosted {
                        message_id,
                        text,
                        attachments,
                    },
                    E::AnswerStarted {
                        answer_id,
                        in_reply_to: message_id,
                        provider,
                        model,
                        node,
                    },
                ])
            }
            C::Stream { answer_id, delta } => {
                let a = self.active(answer_id)?;
                if delta.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![E::AnswerStreamed {
                    answer_id,
                    seq: a.seq + 1,
                    delta,
                }])
            }
            C::Complete {
                answer_id,
                finish_reason,
                model,
                tokens_in,
                tokens_out,
                timings,
                context,
            } => {
                let a = self.active(answer_id)?;
                Ok(vec![E::AnswerCompleted {
                    answer_id,
                    text: a.text.clone(),
                    finish_reason,
                    provider: a.provider.clone(),
                    model,
                    tokens_in,
                    tokens_out,
                    timings,
                    context,
                }])
            }
            C::Cancel { answer_id, by } => {
                let a = self.active(answer_id)?;
                Ok(vec![E::AnswerCancelled {
                    answer_id,
                    text: a.text.clone(),
                    by,
                }])
            }
            C::Fail {
                answer_id,
                code,
                message,
            } => {
                let a = self.active(answer_id)?;
                Ok(vec![E::AnswerFailed {
                    answer_id,
                    text: a.text.clone(),
                    code,
                    message,
                }])
            }
            C::Delete { at } => {
                self.live()?;
                // A running answer ends with the conversation: the generator's next append
                // conflicts, it folds the stream again and stops.
                Ok(vec![E::Deleted { at }])
            }
        }
    }
}

/// The stream of chat provider `id` (an admin's decisions about it).
pub fn provider_stream(id: &str) -> StreamId {
    StreamId::for_entity("provider", id)
}

/// An admin's decision about a chat provider, stream `provider-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProviderEvent {
    #[serde(rename = "provider.enabled")]
    Enabled { by: Uuid },
    #[serde(rename = "provider.disabled")]
    Disabled { by: Uuid },
}

impl DomainEvent for ProviderEvent {}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(c: &mut Conversation, events: Vec<ConversationEvent>) {
        for e in &events {
            c.evolve(e);
        }
    }

    fn started() -> Conversation {
        let mut c = Conversation::default();
        let e = c
            .decide(ConversationCommand::Start {
                owner: Uuid::nil(),
                title: "  Trip\u{0007} notes ".into(),
                provider: "local".into(),
            })
            .unwrap();
        apply(&mut c, e);
        c
    }

    fn post(
        c: &Conversation,
        answer_id: Uuid,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        c.decide(ConversationCommand::Post {
            message_id: Uuid::new_v4(),
            text: "hello".into(),
            attachments: vec![],
            answer_id,
            provider: "local".into(),
            model: "m".into(),
            node: "n".into(),
        })
    }

    #[test]
    fn an_answer_streams_completes_and_joins_the_turns() {
        let mut c = started();
        assert_eq!(c.title, "Trip  notes");
        let a = Uuid::new_v4();
        let e = post(&c, a).unwrap();
        apply(&mut c, e);
        assert!(matches!(
            post(&c, Uuid::new_v4()),
            Err(ConversationError::AnswerInProgress)
        ));
        for piece in ["Hel", "lo!"] {
            let e = c
                .decide(ConversationCommand::Stream {
                    answer_id: a,
                    delta: piece.into(),
                })
                .unwrap();
            apply(&mut c, e);
        }
        assert_eq!(c.answering.as_ref().unwrap().seq, 2);
        let e = c
            .decide(ConversationCommand::Complete {
                answer_id: a,
                finish_reason: "stop".into(),
                model: "m".into(),
                tokens_in: 3,
                tokens_out: 2,
                timings: AnswerTimings::default(),
                context: vec![],
            })
            .unwrap();
        match &e[0] {
            ConversationEvent::AnswerCompleted { text, .. } => assert_eq!(text, "Hello!"),
            other => panic!("{other:?}"),
        }
        apply(&mut c, e);
        assert!(c.answering.is_none());
        assert_eq!(c.turns.len(), 2);
        assert_eq!(c.turns[1].text, "Hello!");
        assert!(post(&c, Uuid::new_v4()).is_ok());
    }

    #[test]
    fn a_cancelled_answer_keeps_its_text_and_refuses_more_pieces() {
        let mut c = started();
        let a = Uuid::new_v4();
        let e = post(&c, a).unwrap();
        apply(&mut c, e);
        let e = c
            .decide(ConversationCommand::Stream {
                answer_id: a,
                delta: "Part".into(),
            })
            .unwrap();
        apply(&mut c, e);
        let e = c
            .decide(ConversationCommand::Cancel {
                answer_id: a,
                by: None,
            })
            .unwrap();
        apply(&mut c, e);
        assert_eq!(c.turns.last().unwrap().text, "Part");
        for cmd in [
            ConversationCommand::Stream {
                answer_id: a,
                delta: "x".into(),
            },
            ConversationCommand::Cancel {
                answer_id: a,
                by: None,
            },
        ] {
            assert!(matches!(
                c.decide(cmd),
                Err(ConversationError::AnswerNotActive)
            ));
        }
    }

    #[test]
    fn bad_commands_are_refused() {
        let c = Conversation::default();
        assert!(matches!(
            c.decide(ConversationCommand::Rename { title: "x".into() }),
            Err(ConversationError::NotFound)
        ));
        let mut c = started();
        assert!(matches!(
            c.decide(ConversationCommand::Rename {
                title: " \n ".into()
            }),
            Err(ConversationError::Invalid(_))
        ));
        assert!(matches!(
            c.decide(ConversationCommand::Post {
                message_id: Uuid::new_v4(),
                text: " ".into(),
                attachments: vec![],
                answer_id: Uuid::new_v4(),
                provider: "local".into(),
                model: "m".into(),
                node: "n".into(),
            }),
            Err(ConversationError::Invalid(_))
        ));
        let e = c
            .decide(ConversationCommand::Delete { at: Utc::now() })
            .unwrap();
        apply(&mut c, e);
        assert!(matches!(
            post(&c, Uuid::new_v4()),
            Err(ConversationError::NotFound)
        ));
    }
}
