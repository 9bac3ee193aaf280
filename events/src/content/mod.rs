//! Content: uploaded media and notes, the owner's usage ledger, resumable upload sessions and
//! the record of admins reading other people's content.
//!
//! Streams: `content-<uuid>` (one item), `usage-<user uuid>` (a ledger whose every event carries
//! the running totals, so a quota decision reads one event), `upload-<uuid>` (a resumable upload)
//! and `audit-<admin uuid>` (what an admin looked at). An upload appends to the item's stream and
//! the owner's ledger in one `append_many`, so two parallel uploads cannot both pass a limit.

pub mod analysis;
mod audit;
mod error;
mod item;
mod ledger;
mod modality;
mod pending;
mod place;
mod upload;

pub use analysis::Analysis;
pub use audit::{AuditEvent, ContentAccess};
pub use error::ContentError;
pub use item::{validate_tag, validate_title};
pub use item::{
    Actor, Content, ContentCommand, ContentEvent, Generation, GenerationKind, MediaFacts,
    PreviewImage, Previews, Source, Uploaded, MAX_DESCRIPTION_CHARS, MAX_TAGS, MAX_TAG_CHARS,
    MAX_TITLE_CHARS,
};
pub use ledger::{Ledger, LedgerCommand, QuotaLimitsNow, UsageEvent, UsageTotals};
pub use modality::Modality;
pub use pending::uploads_after;
pub use place::Place;
pub use upload::{UploadCommand, UploadEvent, UploadSession, UploadStarted};

use crate::event::StreamId;
use crate::ids::{ContentId, UploadId, UserId};

/// `content-<uuid>`: one item of a user's library.
pub fn content_stream(content_id: impl Into<ContentId>) -> StreamId {
    StreamId::for_entity("content", content_id.into())
}

/// `usage-<user uuid>`: the owner's storage and daily-usage ledger.
pub fn usage_stream(user_id: impl Into<UserId>) -> StreamId {
    StreamId::for_entity("usage", user_id.into())
}

/// `upload-<uuid>`: one resumable upload session.
pub fn upload_stream(upload_id: impl Into<UploadId>) -> StreamId {
    StreamId::for_entity("upload", upload_id.into())
}

/// `audit-<admin uuid>`: reads of other users' content by one admin.
pub fn audit_stream(admin_id: impl Into<UserId>) -> StreamId {
    StreamId::for_entity("audit", admin_id.into())
}
