//! The narrow EventStore contract. A KurrentDB implementation could sit beside the Postgres one.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::event::{EventData, RecordedEvent, StreamId};
use crate::ids::UserId;

/// What the caller believes about a stream's current version (the version of its last event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist, at any version.
    StreamExists,
    /// The stream's last event must have exactly this version (1-based).
    Exact(u64),
}

impl ExpectedVersion {
    pub(crate) fn check(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::StreamExists => actual > 0,
            ExpectedVersion::Exact(v) => v == actual,
        }
    }
}

/// Events to append to one stream.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<EventData>,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AppendResult {
    /// The stream's version after the append (its last event's version).
    pub next_expected_version: u64,
    /// Global position of the last event appended.
    pub last_position: u64,
    /// True when every event id already existed: nothing was appended, this is the first result.
    pub replayed: bool,
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends to several streams atomically: all events commit or none do.
    async fn append_many(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<AppendResult>, StoreError>;

    /// Appends to one stream atomically.
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        let mut results = self
            .append_many(vec![AppendRequest {
                stream: stream.clone(),
                expected,
                events,
            }])
            .await?;
        results
            .pop()
            .ok_or_else(|| StoreError::Invalid("append returned no result".into()))
    }

    /// Events of a stream with version > `after_version`, in order, at most `limit`.
    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The last event of a stream, if it has any: enough for streams whose events carry their
    /// running state (ledgers), so deciding never has to fold a long history.
    async fn read_last(&self, stream: &StreamId) -> Result<Option<RecordedEvent>, StoreError>;

    /// Events after global position `after`, in order, at most `limit`. Never returns an event
    /// while an event at a lower position may still commit, so a reader that continues from the
    /// last position it got never skips one.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The highest position committed so far (0 when the log is empty).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// The events owned by `owner` (`metadata.owner`) with `after < position <= up_to`, in
    /// order, at most `limit`. Meant for ranges already settled, i.e. `up_to` at or below a
    /// position that [`EventStore::read_all`] has returned: below it no event can still commit.
    ///
    /// The default scans the whole range; stores with an owner index answer directly.
    async fn read_owned(
        &self,
        owner: UserId,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        let mut cursor = after;
        while cursor < up_to && out.len() < limit {
            let batch = self.read_all(cursor, 512).await?;
            let Some(last) = batch.last() else { break };
            cursor = last.global_position;
            out.extend(
                batch
                    .into_iter()
                    .filter(|e| e.global_position <= up_to && e.metadata.owner == Some(owner)),
            );
        }
        out.truncate(limit);
        Ok(out)
    }
}
