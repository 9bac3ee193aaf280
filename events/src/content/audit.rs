//! Reads of another user's content by an admin, stream `audit-<admin uuid>`: each one is on
//! record, with whose content it was and what was read, and each search over others' content
//! with its query.

use serde::{Deserialize, Serialize};

use crate::aggregate::DomainEvent;
use crate::ids::{ContentId, UserId};

/// What an admin read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentAccess {
    Metadata,
    Download,
    Preview,
    List,
    Usage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AuditEvent {
    #[serde(rename = "admin.content_accessed")]
    ContentAccessed {
        /// The item, or none for a listing of the owner's library or usage.
        content_id: Option<ContentId>,
        owner: UserId,
        access: ContentAccess,
    },
    /// An admin searched everyone's content (`owner` absent) or one user's.
    #[serde(rename = "admin.searched")]
    Searched {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<UserId>,
        query: String,
    },
}

impl DomainEvent for AuditEvent {}
