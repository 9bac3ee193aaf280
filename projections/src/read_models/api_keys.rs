//! Read model `api_keys`: a user's keys (never the secret or its hash), with last use.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::users::{ApiKeyEvent, Scope, DEFAULT_SCOPES};
use tessera_events::RecordedEvent;
use uuid::Uuid;

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "api_keys";

const SETUP: &str = "
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    scopes       text[]      NOT NULL,
    expires_at   timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
";

/// Projects `apikey.*` events into `api_keys`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiKeysProjection;

#[async_trait]
impl Projection for ApiKeysProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        // 2: scopes and expiry.
        2
    }

    fn setup_sql(&self) -> &'static str {
        SETUP
    }

    /// Applies one event; events of other streams are ignored.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if !event.event_type.starts_with("apikey.") {
            return Ok(());
        }
        let id = entity_id(event, "apikey-")?;
        let q = match decode::<ApiKeyEvent>(event)? {
            ApiKeyEvent::Created {
                user_id,
                name,
                prefix,
                scopes,
                expires_at,
                ..
            } => sqlx::query(
                "INSERT INTO api_keys (id, user_id, name, prefix, created_at, scopes, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(user_id)
            .bind(name)
            .bind(prefix)
            .bind(event.recorded_at)
            .bind(
                scopes
                    .unwrap_or_else(|| DEFAULT_SCOPES.to_vec())
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(expires_at),
            ApiKeyEvent::Revoked {} => sqlx::query(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            )
            .bind(id)
            .bind(event.recorded_at),
            // `at` is when the key was used; appends may land out of that order.
            ApiKeyEvent::Used { at } => sqlx::query(
                "UPDATE api_keys SET last_used_at = GREATEST(last_used_at, $2) WHERE id = $1",
            )
            .bind(id)
            .bind(at),
        };
        q.execute(conn).await?;
        Ok(())
    }
}

/// A row of `api_keys`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `read`, `write`, `keys`, `admin`.
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    /// The key's scopes (names this version does not know are left out).
    pub fn scopes(&self) -> Vec<Scope> {
        self.scopes.iter().filter_map(|s| Scope::parse(s)).collect()
    }
}

/// A user's keys, newest first, revoked ones included.
pub async fn list_for_user(pool: &PgPool, user_id: Uuid) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, name, prefix, created_at, last_used_at, revoked_at, scopes, expires_at
         FROM rm_api_keys.api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}
