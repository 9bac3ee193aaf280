//! The conversation aggregate: its state, its commands and the rules between them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::ConversationError;
use super::events::{AnswerTimings, ContextSource, ConversationEvent};
use super::{MAX_ATTACHMENTS, MAX_MESSAGE_CHARS, MAX_TITLE_CHARS};
use crate::aggregate::Aggregate;
use crate::ids::{AnswerId, ContentId, MessageId, UserId};

/// One turn of the conversation so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The message's id, or the answer's.
    pub id: Uuid,
    /// `user` or `assistant`.
    pub role: &'static str,
    pub text: String,
    pub attachments: Vec<ContentId>,
}

/// The answer being written.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAnswer {
    pub answer_id: AnswerId,
    pub in_reply_to: MessageId,
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
    /// `None` until started.
    pub owner: Option<UserId>,
    pub title: String,
    pub provider: String,
    /// Messages and finished answers (a cancelled or failed answer keeps its partial text).
    pub turns: Vec<Turn>,
    pub answering: Option<ActiveAnswer>,
}

#[derive(Debug, Clone)]
pub enum ConversationCommand {
    Start {
        owner: UserId,
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
        message_id: MessageId,
        text: String,
        attachments: Vec<ContentId>,
        answer_id: AnswerId,
        provider: String,
        model: String,
        node: String,
    },
    Stream {
        answer_id: AnswerId,
        delta: String,
    },
    Complete {
        answer_id: AnswerId,
        finish_reason: String,
        model: String,
        tokens_in: u64,
        tokens_out: u64,
        timings: AnswerTimings,
        context: Vec<ContextSource>,
    },
    Cancel {
        answer_id: AnswerId,
        by: Option<UserId>,
    },
    Fail {
        answer_id: AnswerId,
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

    fn active(&self, answer_id: AnswerId) -> Result<&ActiveAnswer, ConversationError> {
        self.live()?;
        match &self.answering {
            Some(a) if a.answer_id == answer_id => Ok(a),
            _ => Err(ConversationError::AnswerNotActive),
        }
    }

    fn finish(&mut self, answer_id: AnswerId, text: &str) {
        if let Some(a) = self.answering.take() {
            if a.answer_id == answer_id {
                self.turns.push(Turn {
                    id: answer_id.into_inner(),
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
                self.owner = Some(*owner);
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
                id: message_id.into_inner(),
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
