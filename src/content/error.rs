//! Why a content request failed, and its one mapping to HTTP.

use actix_web::http::StatusCode;
use tessera_actors::HasErrorCode;
use tessera_events::content::ContentError;
use tessera_models::media::MediaError;

use super::receive::ReceiveError;
use crate::blob::BlobError;
use crate::error::ApiError;
use tessera_events::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ContentFailure {
    #[error(transparent)]
    Domain(#[from] ContentError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("the {modality} file is {size} bytes; the limit is {limit}")]
    FileTooLarge {
        modality: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{0}")]
    BadRequest(ErrorCode, String),
    #[error(transparent)]
    Store(#[from] tessera_events::StoreError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl ContentFailure {
    /// The item does not exist, or is not the caller's to see.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Domain(ContentError::NotFound))
    }
}

impl From<ContentFailure> for ApiError {
    fn from(e: ContentFailure) -> Self {
        use ContentFailure as F;
        let msg = e.to_string();
        match e {
            F::Domain(d) => match d {
                ContentError::NotFound => ApiError::not_found("content"),
                ContentError::Exists => ApiError::conflict(ErrorCode::AlreadyExists, msg),
                ContentError::QuotaExceeded { limit, .. } => {
                    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::QuotaExceeded, msg)
                        .with_field(limit)
                }
                ContentError::OffsetMismatch { .. } => {
                    ApiError::conflict(ErrorCode::OffsetMismatch, msg)
                }
                ContentError::PastEnd { .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PastDeclaredLength,
                    msg,
                ),
                ContentError::UploadClosed { .. } => {
                    ApiError::conflict(ErrorCode::UploadClosed, msg)
                }
                ContentError::TooManyOpenUploads { .. } => {
                    ApiError::conflict(ErrorCode::TooManyOpenUploads, msg)
                }
                ContentError::Incomplete { .. } => {
                    ApiError::conflict(ErrorCode::UploadIncomplete, msg)
                }
                ContentError::RestoreExpired => {
                    ApiError::new(StatusCode::GONE, ErrorCode::RestoreExpired, msg)
                }
                ContentError::Invalid(m) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::ValidationFailed,
                    m,
                ),
                ContentError::Store(s) => s.into(),
            },
            F::Media(m) => {
                if !m.is_client_error() {
                    return ApiError::internal(m);
                }
                let code = m.error_code();
                let status = match code {
                    ErrorCode::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::EmptyFile => StatusCode::BAD_REQUEST,
                    ErrorCode::TextTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError::new(status, code, msg)
            }
            F::Receive(r) => match r {
                ReceiveError::TooLarge { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::FileTooLarge, msg)
                }
                ReceiveError::Body(_) => ApiError::bad_request(ErrorCode::IncompleteBody, msg),
                ReceiveError::Io(e) => ApiError::internal(e),
            },
            F::Blob(b) => match b {
                BlobError::NotFound(_) => ApiError::not_found("file"),
                BlobError::TooLarge { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::FileTooLarge, msg)
                }
                BlobError::RangeNotSatisfiable { .. } => ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    ErrorCode::RangeNotSatisfiable,
                    msg,
                ),
                BlobError::Body(_) => ApiError::bad_request(ErrorCode::IncompleteBody, msg),
                BlobError::Unavailable(_) => {
                    ApiError::unavailable(ErrorCode::StorageUnavailable, msg).with_retry_after(5)
                }
                other => ApiError::internal(other),
            },
            F::FileTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::FileTooLarge, msg)
            }
            F::BadRequest(code, m) => ApiError::bad_request(code, m),
            F::Store(s) => s.into(),
            F::Sql(s) => ApiError::internal(s),
            F::Internal(m) => ApiError::internal(m),
        }
    }
}
