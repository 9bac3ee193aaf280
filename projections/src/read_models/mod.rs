//! The read models: `users`, `api_keys`, `quotas`, `content`, `usage`, `jobs`,
//! `conversations`, `providers`, and `search` (hosted apart: it needs the embedding model).
//!
//! Each projection's tables live in schema `rm_<name>`; `setup_sql` and `apply` use unqualified
//! names (the runtime sets `search_path`, so a rebuild can fill fresh tables beside the live
//! ones). The query functions read the live schema.

pub mod api_keys;
pub mod content;
pub mod conversations;
pub mod jobs;
pub mod profile;
pub mod providers;
pub mod quotas;
pub mod search;
pub mod sessions;
pub mod usage;
pub mod users;

pub use api_keys::ApiKeysProjection;
pub use content::ContentProjection;
pub use conversations::ConversationsProjection;
pub use jobs::JobsProjection;
pub use providers::ProvidersProjection;
pub use quotas::QuotasProjection;
pub use sessions::SessionsProjection;
pub use usage::UsageProjection;
pub use users::UsersProjection;

use std::sync::Arc;

use tessera_events::RecordedEvent;
use uuid::Uuid;

use crate::{Projection, ProjectionError};

/// The entity id of an event's stream (`user-<uuid>` → the uuid).
fn entity_id(event: &RecordedEvent, prefix: &str) -> Result<Uuid, ProjectionError> {
    event
        .stream_id
        .strip_prefix(prefix)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            ProjectionError::Decode(format!(
                "event {} is on stream {:?}, which has no {prefix}<uuid> id",
                event.event_id, event.stream_id
            ))
        })
}

/// Decodes a typed event, naming the event on failure.
fn decode<E: tessera_events::DomainEvent>(event: &RecordedEvent) -> Result<E, ProjectionError> {
    E::decode(event).map_err(|e| {
        ProjectionError::Decode(format!(
            "event {} ({}): {e}",
            event.event_id, event.event_type
        ))
    })
}

/// Every read model of users and access, for the projector hosts.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(UsersProjection),
        Arc::new(ApiKeysProjection),
        Arc::new(SessionsProjection),
        Arc::new(QuotasProjection),
        Arc::new(ContentProjection),
        Arc::new(UsageProjection),
        Arc::new(JobsProjection),
        Arc::new(ConversationsProjection),
        Arc::new(ProvidersProjection),
    ]
}
