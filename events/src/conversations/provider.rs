//! Chat providers, stream `provider-<id>`: an admin enables or disables one.

use serde::{Deserialize, Serialize};

use crate::aggregate::DomainEvent;
use crate::event::StreamId;
use crate::ids::UserId;

/// The stream of chat provider `id` (an admin's decisions about it).
pub fn provider_stream(id: &str) -> StreamId {
    StreamId::for_entity("provider", id)
}

/// An admin's decision about a chat provider, stream `provider-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProviderEvent {
    #[serde(rename = "provider.enabled")]
    Enabled { by: UserId },
    #[serde(rename = "provider.disabled")]
    Disabled { by: UserId },
}

impl DomainEvent for ProviderEvent {}
