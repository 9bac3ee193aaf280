//! Why a content command was refused.

use crate::error::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// Missing, purged, or someone else's: the caller cannot tell which.
    #[error("content not found")]
    NotFound,
    #[error("content already exists")]
    Exists,
    #[error(
        "the {limit} quota would be exceeded: {used} used of {allowed}, {requested} more requested"
    )]
    QuotaExceeded {
        /// The limit's name: `storage_bytes`, `uploads_per_day` or `processing_seconds_per_day`.
        limit: &'static str,
        allowed: u64,
        used: u64,
        requested: u64,
    },
    #[error("the upload is at byte {expected}, not at the offset given")]
    OffsetMismatch { expected: u64 },
    #[error("the chunk goes past the upload's declared length of {length} bytes")]
    PastEnd { length: u64 },
    #[error("the upload is {state}")]
    UploadClosed { state: &'static str },
    #[error("at most {limit} resumable uploads may be open at once; finish or cancel one first")]
    TooManyOpenUploads { limit: usize },
    #[error("the upload is not complete: {received} of {length} bytes received")]
    Incomplete { received: u64, length: u64 },
    #[error("the restore period ended")]
    RestoreExpired,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
