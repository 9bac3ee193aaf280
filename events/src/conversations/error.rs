//! Why a conversation command was refused.

use crate::error::StoreError;

/// A refused conversation command.
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
