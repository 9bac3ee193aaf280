//! Read model `providers`: admins' decisions to enable or disable chat providers (the
//! providers themselves are configuration; one without a decision keeps its configured state).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::conversations::ProviderEvent;
use tessera_events::RecordedEvent;
use uuid::Uuid;

use super::decode;
use crate::{Projection, ProjectionError};

pub const NAME: &str = "providers";

const SETUP: &str = "
CREATE TABLE providers (
    id         text        PRIMARY KEY,
    enabled    boolean     NOT NULL,
    changed_by uuid        NOT NULL,
    changed_at timestamptz NOT NULL
);
";

/// Projects `provider.*` events into `providers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProvidersProjection;

#[async_trait]
impl Projection for ProvidersProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn setup_sql(&self) -> &'static str {
        SETUP
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if !event.event_type.starts_with("provider.") {
            return Ok(());
        }
        let id = event.stream_id.strip_prefix("provider-").ok_or_else(|| {
            ProjectionError::Decode(format!(
                "event {} is on stream {:?}, not provider-<id>",
                event.event_id, event.stream_id
            ))
        })?;
        let (enabled, by) = match decode::<ProviderEvent>(event)? {
            ProviderEvent::Enabled { by } => (true, by),
            ProviderEvent::Disabled { by } => (false, by),
        };
        sqlx::query(
            "INSERT INTO providers (id, enabled, changed_by, changed_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET enabled = EXCLUDED.enabled,
                 changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at",
        )
        .bind(id)
        .bind(enabled)
        .bind(by)
        .bind(event.recorded_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// An admin's last decision about a provider.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: String,
    pub enabled: bool,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

/// Every decision, by provider id.
pub async fn all(pool: &PgPool) -> Result<Vec<ProviderRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, enabled, changed_by, changed_at FROM rm_providers.providers")
        .fetch_all(pool)
        .await
}
