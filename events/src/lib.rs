//! Tessera's domain events, aggregates and the event store.
//!
//! The event log is the source of truth: every change is an appended event. This crate knows
//! nothing of HTTP, actors or read models.

pub mod aggregate;
pub mod content;
pub mod conversations;
pub mod error;
pub mod error_code;
pub mod event;
pub mod ids;
pub mod jobs;
pub mod migrations;
pub mod postgres;
pub mod projection_ops;
pub mod store;
pub mod subscription;
pub mod upcast;
pub mod users;

pub use aggregate::{Aggregate, CommandContext, DomainEvent};
pub use error::StoreError;
pub use error_code::ErrorCode;
pub use event::{EventData, Metadata, RecordedEvent, StreamId};
pub use ids::{AnswerId, ApiKeyId, ContentId, ConversationId, JobId, MessageId, UploadId, UserId};
pub use postgres::PgEventStore;
pub use store::{AppendRequest, AppendResult, EventStore, ExpectedVersion};
pub use subscription::{EventNotifier, Subscription};
pub use upcast::Upcasters;

/// The LISTEN/NOTIFY channel on which appends announce their last position.
pub const NOTIFY_CHANNEL: &str = "tessera_events";
