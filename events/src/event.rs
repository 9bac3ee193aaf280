//! Event records as they go in and come out of the log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::StoreError;
use crate::ids::UserId;

/// The id of a stream, `<category>-<id>`, e.g. `user-0192…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    pub const MAX_LEN: usize = 256;

    pub fn new(id: impl Into<String>) -> Result<Self, StoreError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN || id.chars().any(char::is_control) {
            return Err(StoreError::Invalid(format!("bad stream id {id:?}")));
        }
        Ok(Self(id))
    }

    /// A stream of `category` for an entity id: `category-<id>`.
    pub fn for_entity(category: &str, id: impl std::fmt::Display) -> Self {
        Self(format!("{category}-{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `-`.
    pub fn category(&self) -> &str {
        self.0.split_once('-').map_or(self.0.as_str(), |(c, _)| c)
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who and what caused an event. Stored as jsonb beside the payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The user who issued the command, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<UserId>,
    /// The user whose data this event is about; sessions of that user receive it live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// An event to append. Its `Debug` leaves the payload out: payloads may hold digests of
/// credentials, and events end up in logs.
#[derive(Clone, PartialEq)]
pub struct EventData {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
    pub metadata: Metadata,
}

impl EventData {
    pub fn new(event_type: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            metadata: Metadata::default(),
        }
    }

    pub fn with_id(mut self, id: Uuid) -> Self {
        self.event_id = id;
        self
    }

    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// An event as stored, upcast to its current schema version. Its `Debug` leaves the payload out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub global_position: u64,
    pub event_id: Uuid,
    pub stream_id: String,
    pub stream_version: u64,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

impl std::fmt::Debug for EventData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventData")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("schema_version", &self.schema_version)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RecordedEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedEvent")
            .field("global_position", &self.global_position)
            .field("event_id", &self.event_id)
            .field("stream_id", &self.stream_id)
            .field("stream_version", &self.stream_version)
            .field("event_type", &self.event_type)
            .field("schema_version", &self.schema_version)
            .field("recorded_at", &self.recorded_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_payloads_out() {
        let e = EventData::new(
            "user.password_changed",
            serde_json::json!({"password_hash": "$argon2id$secret"}),
        );
        assert!(!format!("{e:?}").contains("argon2id"));
    }
}
