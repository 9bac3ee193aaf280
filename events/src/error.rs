//! Errors of the event store.

use crate::store::ExpectedVersion;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the version the caller expected.
    #[error("stream {stream} is at version {actual}, expected {expected:?}")]
    WrongExpectedVersion {
        stream: String,
        expected: ExpectedVersion,
        actual: u64,
    },
    /// Some, but not all, of the event ids of an append already exist, or they exist elsewhere.
    #[error("event ids of this append were already used differently (stream {stream})")]
    IdempotencyConflict { stream: String },
    /// The request itself is malformed (empty stream id, no events, ...).
    #[error("invalid append: {0}")]
    Invalid(String),
    #[error("event (de)serialisation failed: {0}")]
    Serialization(#[from] serde_json::Error),
    #[error("upcasting {event_type} from schema version {from} failed: {reason}")]
    Upcast {
        event_type: String,
        from: i32,
        reason: String,
    },
    #[error("event store database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// True for conflicts that a command may resolve by reloading and deciding again.
    pub fn is_concurrency_conflict(&self) -> bool {
        matches!(self, StoreError::WrongExpectedVersion { .. })
    }
}
