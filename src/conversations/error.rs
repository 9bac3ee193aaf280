//! Why a chat command failed, and its mapping to HTTP.

use tessera_events::conversations::ConversationError;
use tessera_events::{ErrorCode, StoreError};

use crate::content::ContentFailure;
use crate::error::ApiError;

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
                ConversationError::Exists => ApiError::conflict(ErrorCode::AlreadyExists, msg),
                ConversationError::AnswerInProgress => {
                    ApiError::conflict(ErrorCode::AnswerInProgress, msg)
                }
                ConversationError::AnswerNotActive => {
                    ApiError::conflict(ErrorCode::AnswerNotActive, msg)
                }
                ConversationError::Invalid(m) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::ValidationFailed,
                    m,
                ),
                ConversationError::Store(s) => s.into(),
            },
            ChatFailure::Content(c) => c.into(),
            ChatFailure::UnknownProvider(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::UnknownProvider,
                msg,
            )
            .with_field("provider"),
            ChatFailure::ProviderDisabled(_) => {
                ApiError::conflict(ErrorCode::ProviderDisabled, msg).with_field("provider")
            }
            ChatFailure::Store(s) => s.into(),
            ChatFailure::Sql(s) => s.into(),
        }
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
