//! What an administrator decided about a read model's poison events, stream
//! `projection-<name>`.
//!
//! A projector that cannot apply an event quarantines it (a dead-letter row) and stalls before
//! it. The decision to try it again, or to skip it, is recorded here, so it is part of the audit
//! trail and every node, and every later rebuild of the same projection version, honours it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::StoreError;
use crate::event::StreamId;

/// The stream holding the decisions about `projection`'s events.
pub fn stream(projection: &str) -> StreamId {
    StreamId::for_entity("projection", projection)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProjectionOpsEvent {
    /// The projection, at `version`, passes over the event at `position` without applying it.
    #[serde(rename = "projection.event_skipped")]
    EventSkipped {
        position: u64,
        version: i32,
        event_id: Uuid,
        /// Why, in the administrator's words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The projector tries the quarantined event at `position` once more.
    #[serde(rename = "projection.retry_requested")]
    RetryRequested { position: u64, version: i32 },
}

impl DomainEvent for ProjectionOpsEvent {}

impl ProjectionOpsEvent {
    /// The log position the decision is about.
    pub fn position(&self) -> u64 {
        match self {
            Self::EventSkipped { position, .. } | Self::RetryRequested { position, .. } => {
                *position
            }
        }
    }

    /// The projection version the decision holds for.
    pub fn version(&self) -> i32 {
        match self {
            Self::EventSkipped { version, .. } | Self::RetryRequested { version, .. } => *version,
        }
    }
}

#[derive(Debug, Clone)]
pub enum ProjectionOpsCommand {
    Skip {
        position: u64,
        version: i32,
        event_id: Uuid,
        reason: Option<String>,
    },
    Retry {
        position: u64,
        version: i32,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionOpsError {
    #[error("the event at {position} is already skipped")]
    AlreadySkipped { position: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The decisions so far: which (version, position) pairs are skipped.
#[derive(Debug, Clone, Default)]
pub struct ProjectionOps {
    pub skipped: BTreeSet<(i32, u64)>,
}

impl ProjectionOps {
    /// The positions skipped for `version`.
    pub fn skipped_at(&self, version: i32) -> impl Iterator<Item = u64> + '_ {
        self.skipped
            .range((version, 0)..=(version, u64::MAX))
            .map(|(_, p)| *p)
    }
}

impl Aggregate for ProjectionOps {
    type Event = ProjectionOpsEvent;
    type Command = ProjectionOpsCommand;
    type Error = ProjectionOpsError;

    fn evolve(&mut self, event: &ProjectionOpsEvent) {
        if let ProjectionOpsEvent::EventSkipped {
            position, version, ..
        } = event
        {
            self.skipped.insert((*version, *position));
        }
    }

    fn decide(
        &self,
        command: ProjectionOpsCommand,
    ) -> Result<Vec<ProjectionOpsEvent>, Self::Error> {
        match command {
            ProjectionOpsCommand::Skip {
                position,
                version,
                event_id,
                reason,
            } => {
                if self.skipped.contains(&(version, position)) {
                    return Err(ProjectionOpsError::AlreadySkipped { position });
                }
                Ok(vec![ProjectionOpsEvent::EventSkipped {
                    position,
                    version,
                    event_id,
                    reason,
                }])
            }
            ProjectionOpsCommand::Retry { position, version } => {
                if self.skipped.contains(&(version, position)) {
                    return Err(ProjectionOpsError::AlreadySkipped { position });
                }
                Ok(vec![ProjectionOpsEvent::RetryRequested {
                    position,
                    version,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_holds_for_its_version_only_and_is_decided_once() {
        let mut ops = ProjectionOps::default();
        let skip = |version| ProjectionOpsCommand::Skip {
            position: 7,
            version,
            event_id: Uuid::nil(),
            reason: None,
        };
        for e in ops.decide(skip(2)).unwrap() {
            ops.evolve(&e);
        }
        assert_eq!(ops.skipped_at(2).collect::<Vec<_>>(), vec![7]);
        assert_eq!(ops.skipped_at(3).count(), 0);
        assert!(matches!(
            ops.decide(skip(2)),
            Err(ProjectionOpsError::AlreadySkipped { position: 7 })
        ));
        assert!(matches!(
            ops.decide(ProjectionOpsCommand::Retry {
                position: 7,
                version: 2
            }),
            Err(ProjectionOpsError::AlreadySkipped { .. })
        ));
        assert_eq!(ops.decide(skip(3)).unwrap().len(), 1);
    }

    #[test]
    fn events_keep_their_wire_names() {
        let (t, payload) = ProjectionOpsEvent::RetryRequested {
            position: 5,
            version: 1,
        }
        .encode()
        .unwrap();
        assert_eq!(t, "projection.retry_requested");
        assert_eq!(payload, serde_json::json!({ "position": 5, "version": 1 }));
    }
}
