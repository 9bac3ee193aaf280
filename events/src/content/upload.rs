//! A resumable upload, stream `upload-<uuid>`: the client sends chunks at the offset the server
//! acknowledged last; each stored chunk is an event, so a resume after any interruption (or on
//! another node) starts from the last acknowledged byte.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ContentError;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::StoreError;
use crate::ids::{ContentId, UserId};
use crate::store::EventStore;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadStarted {
    pub owner: UserId,
    /// Total bytes the client will send.
    pub length: u64,
    pub filename: Option<String>,
    pub title: Option<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum UploadEvent {
    #[serde(rename = "upload.started")]
    Started(UploadStarted),
    #[serde(rename = "upload.chunk_stored")]
    ChunkStored { offset: u64, size: u64, key: String },
    #[serde(rename = "upload.completed")]
    Completed { content_id: ContentId },
    #[serde(rename = "upload.aborted")]
    Aborted { reason: String },
}

impl DomainEvent for UploadEvent {}

#[derive(Debug, Clone)]
pub enum UploadCommand {
    Start(UploadStarted),
    StoreChunk {
        by: UserId,
        offset: u64,
        size: u64,
        key: String,
        now: DateTime<Utc>,
    },
    Complete {
        by: UserId,
        content_id: ContentId,
    },
    Abort {
        by: Option<UserId>,
        reason: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct UploadSession {
    pub started: Option<UploadStarted>,
    pub received: u64,
    /// Stored chunks' keys, in order.
    pub parts: Vec<String>,
    pub completed: Option<ContentId>,
    pub aborted: bool,
}

impl UploadSession {
    /// How session `id` started (its first event, upcast), without reading its chunks; `None`
    /// when no such session was started.
    pub async fn load_start(
        store: &dyn EventStore,
        id: Uuid,
    ) -> Result<Option<UploadStarted>, StoreError> {
        let first = store.read_stream(&super::upload_stream(id), 0, 1).await?;
        match first.first().map(UploadEvent::decode).transpose()? {
            Some(UploadEvent::Started(started)) => Ok(Some(started)),
            _ => Ok(None),
        }
    }

    /// The session, if `by` owns it (others see nothing).
    pub fn owned_by(&self, by: UserId) -> Result<&UploadStarted, ContentError> {
        match &self.started {
            Some(s) if s.owner == by => Ok(s),
            _ => Err(ContentError::NotFound),
        }
    }

    fn check_open(&self, now: Option<DateTime<Utc>>) -> Result<(), ContentError> {
        if self.completed.is_some() {
            return Err(ContentError::UploadClosed { state: "completed" });
        }
        if self.aborted {
            return Err(ContentError::UploadClosed { state: "aborted" });
        }
        if let (Some(now), Some(s)) = (now, &self.started) {
            if s.expires_at <= now {
                return Err(ContentError::UploadClosed { state: "expired" });
            }
        }
        Ok(())
    }
}

impl Aggregate for UploadSession {
    type Event = UploadEvent;
    type Command = UploadCommand;
    type Error = ContentError;

    fn evolve(&mut self, event: &UploadEvent) {
        match event {
            UploadEvent::Started(s) => self.started = Some(s.clone()),
            UploadEvent::ChunkStored { size, key, .. } => {
                self.received += size;
                self.parts.push(key.clone());
            }
            UploadEvent::Completed { content_id } => self.completed = Some(*content_id),
            UploadEvent::Aborted { .. } => self.aborted = true,
        }
    }

    fn decide(&self, command: UploadCommand) -> Result<Vec<UploadEvent>, ContentError> {
        match command {
            UploadCommand::Start(s) => {
                if self.started.is_some() {
                    return Err(ContentError::Exists);
                }
                Ok(vec![UploadEvent::Started(s)])
            }
            UploadCommand::StoreChunk {
                by,
                offset,
                size,
                key,
                now,
            } => {
                let length = self.owned_by(by)?.length;
                self.check_open(Some(now))?;
                if offset != self.received {
                    return Err(ContentError::OffsetMismatch {
                        expected: self.received,
                    });
                }
                if offset.saturating_add(size) > length {
                    return Err(ContentError::PastEnd { length });
                }
                if size == 0 {
                    return Ok(Vec::new());
                }
                Ok(vec![UploadEvent::ChunkStored { offset, size, key }])
            }
            UploadCommand::Complete { by, content_id } => {
                let length = self.owned_by(by)?.length;
                if self.completed == Some(content_id) {
                    return Ok(Vec::new());
                }
                self.check_open(None)?;
                if self.received != length {
                    return Err(ContentError::Incomplete {
                        received: self.received,
                        length,
                    });
                }
                Ok(vec![UploadEvent::Completed { content_id }])
            }
            UploadCommand::Abort { by, reason } => {
                if let Some(by) = by {
                    self.owned_by(by)?;
                } else if self.started.is_none() {
                    return Err(ContentError::NotFound);
                }
                if self.aborted || self.completed.is_some() {
                    return Ok(Vec::new());
                }
                Ok(vec![UploadEvent::Aborted { reason }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_must_come_at_the_acknowledged_offset() {
        let owner = Uuid::new_v4();
        let now = Utc::now();
        let mut s = UploadSession::default();
        s.evolve(&UploadEvent::Started(UploadStarted {
            owner: UserId(owner),
            length: 10,
            filename: None,
            title: None,
            expires_at: now + chrono::Duration::hours(1),
        }));
        let chunk = |offset, size| UploadCommand::StoreChunk {
            by: UserId(owner),
            offset,
            size,
            key: format!("uploads/x/{offset}"),
            now,
        };
        for e in s.decide(chunk(0, 6)).unwrap() {
            s.evolve(&e);
        }
        assert!(matches!(
            s.decide(chunk(0, 4)),
            Err(ContentError::OffsetMismatch { expected: 6 })
        ));
        assert!(matches!(
            s.decide(chunk(6, 5)),
            Err(ContentError::PastEnd { length: 10 })
        ));
        assert!(matches!(
            s.decide(UploadCommand::Complete {
                by: UserId(owner),
                content_id: ContentId(Uuid::nil())
            }),
            Err(ContentError::Incomplete { received: 6, .. })
        ));
        let stranger = UploadCommand::StoreChunk {
            by: UserId(Uuid::new_v4()),
            offset: 6,
            size: 4,
            key: "k".into(),
            now,
        };
        assert!(matches!(s.decide(stranger), Err(ContentError::NotFound)));
    }
}
