//! Why a users-domain command was refused.

use crate::error::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("user not found")]
    UserNotFound,
    #[error("user already exists")]
    UserExists,
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("refresh token family not found")]
    SessionNotFound,
    #[error("refresh token family already started")]
    SessionExists,
    #[error("refresh token family was revoked ({reason})")]
    SessionRevoked { reason: String },
    #[error("refresh token expired")]
    SessionExpired,
    #[error("refresh token is not one of its family")]
    UnknownToken,
    #[error("api key not found")]
    ApiKeyNotFound,
    #[error("api key already exists")]
    ApiKeyExists,
    #[error("the last active admin cannot be disabled or demoted")]
    LastAdmin,
    #[error("the link is unknown, used or expired")]
    LinkInvalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}
