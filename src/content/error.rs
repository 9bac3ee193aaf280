//! Why a content request failed, and its one mapping to HTTP.

use actix_web::http::StatusCode;
use tessera_events::content::ContentError;
use tessera_models::media::MediaError;

use super::receive::ReceiveError;
use crate::blob::BlobError;
use crate::error::ApiError;

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
    BadRequest(&'static str, String),
    #[error(transparent)]
    Store(#[from] tessera_events::StoreError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<ContentFailure> for ApiError {
    fn from(e: ContentFailure) -> Self {
        use ContentFailure as F;
        let msg = e.to_string();
        match e {
            F::Domain(d) => match d {
                ContentError::NotFound => ApiError::not_found("content"),
                ContentError::Exists => ApiError::conflict("already_exists", msg),
                ContentError::QuotaExceeded { limit, .. } => {
                    ApiError::new(StatusCode::FORBIDDEN, "quota_exceeded", msg).with_field(limit)
                }
                ContentError::OffsetMismatch { .. } => ApiError::conflict("offset_mismatch", msg),
                ContentError::PastEnd { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "past_declared_length", msg)
                }
                ContentError::UploadClosed { .. } => ApiError::conflict("upload_closed", msg),
                ContentError::Incomplete { .. } => ApiError::conflict("upload_incomplete", msg),
                ContentError::RestoreExpired => {
                    ApiError::new(StatusCode::GONE, "restore_expired", msg)
                }
                ContentError::Invalid(m) => {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", m)
                }
                ContentError::Store(s) => s.into(),
            },
            F::Media(m) => {
                if !m.is_client_error() {
                    return ApiError::internal(m);
                }
                let status = match m.code() {
                    "unsupported_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "empty_file" => StatusCode::BAD_REQUEST,
                    "text_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError::new(status, m.code(), msg)
            }
            F::Receive(r) => match r {
                ReceiveError::TooLarge { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", msg)
                }
                ReceiveError::Body(_) => ApiError::bad_request("incomplete_body", msg),
                ReceiveError::Io(e) => ApiError::internal(e),
            },
            F::Blob(b) => match b {
                BlobError::NotFound(_) => ApiError::not_found("file"),
                BlobError::TooLarge { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", msg)
                }
                BlobError::RangeNotSatisfiable { .. } => ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    msg,
                ),
                BlobError::Body(_) => ApiError::bad_request("incomplete_body", msg),
                other => ApiError::internal(other),
            },
            F::FileTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", msg)
            }
            F::BadRequest(code, m) => ApiError::bad_request(code, m),
            F::Store(s) => s.into(),
            F::Sql(s) => ApiError::internal(s),
            F::Internal(m) => ApiError::internal(m),
        }
    }
}
