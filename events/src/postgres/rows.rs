//! The rows of the `events` table as read, and their conversion into recorded events (through
//! the upcasters).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PgEventStore;
use crate::error::StoreError;
use crate::event::{Metadata, RecordedEvent};

pub(super) const COLUMNS: &str =
    "global_position, event_id, stream_id, stream_version, event_type, \
                       schema_version, payload, metadata, recorded_at";

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    pub(super) global_position: i64,
    pub(super) event_id: Uuid,
    pub(super) stream_id: String,
    pub(super) stream_version: i64,
    pub(super) event_type: String,
    pub(super) schema_version: i32,
    pub(super) payload: serde_json::Value,
    pub(super) metadata: serde_json::Value,
    pub(super) recorded_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SnapshotRow {
    pub(super) snap: String,
    global_position: Option<i64>,
    event_id: Option<Uuid>,
    stream_id: Option<String>,
    stream_version: Option<i64>,
    event_type: Option<String>,
    schema_version: Option<i32>,
    payload: Option<serde_json::Value>,
    metadata: Option<serde_json::Value>,
    recorded_at: Option<DateTime<Utc>>,
}

impl SnapshotRow {
    pub(super) fn into_event(self) -> Option<EventRow> {
        Some(EventRow {
            global_position: self.global_position?,
            event_id: self.event_id?,
            stream_id: self.stream_id?,
            stream_version: self.stream_version?,
            event_type: self.event_type?,
            schema_version: self.schema_version?,
            payload: self.payload?,
            metadata: self.metadata?,
            recorded_at: self.recorded_at?,
        })
    }
}

impl PgEventStore {
    pub(super) fn to_recorded(&self, row: EventRow) -> Result<RecordedEvent, StoreError> {
        let (schema_version, payload) =
            self.upcasters
                .upcast(&row.event_type, row.schema_version, row.payload)?;
        let metadata: Metadata = serde_json::from_value(row.metadata).unwrap_or_default();
        Ok(RecordedEvent {
            global_position: row.global_position as u64,
            event_id: row.event_id,
            stream_id: row.stream_id,
            stream_version: row.stream_version as u64,
            event_type: row.event_type,
            schema_version,
            payload,
            metadata,
            recorded_at: row.recorded_at,
        })
    }
}
