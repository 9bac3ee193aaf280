//! The errors every blob store reports.

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found: {0}")]
    NotFound(String),
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the requested range lies outside the blob's {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("invalid blob key: {0}")]
    InvalidKey(String),
    /// The client's body stream failed.
    #[error("the request body failed: {0}")]
    Body(String),
    #[error("blob storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the blob storage backend failed: {0}")]
    Backend(String),
    /// The store did not answer in time, or failed so often that calls pause.
    #[error("the blob storage is unavailable: {0}")]
    Unavailable(String),
}
