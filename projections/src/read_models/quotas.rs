//! Read model `quotas`: limits an admin set per user; a NULL column means the configured default.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::users::UserEvent;
use tessera_events::RecordedEvent;
use uuid::Uuid;

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "quotas";

const SETUP: &str = "
CREATE TABLE quotas (
    user_id                    uuid        PRIMARY KEY,
    storage_bytes              bigint,
    uploads_per_day            bigint,
    processing_seconds_per_day bigint,
    updated_at                 timestamptz NOT NULL
);
";

/// Projects `user.quota_set` into `quotas`.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuotasProjection;

/// Postgres has no unsigned bigint; limits beyond i64 are effectively unlimited, so saturate.
fn to_i64<T: TryInto<i64>>(v: Option<T>) -> Option<i64> {
    v.map(|v| v.try_into().unwrap_or(i64::MAX))
}

#[async_trait]
impl Projection for QuotasProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn setup_sql(&self) -> &'static str {
        SETUP
    }

    /// Applies one event; every other event is ignored.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.event_type != "user.quota_set" {
            return Ok(());
        }
        let UserEvent::QuotaSet(q) = decode::<UserEvent>(event)? else {
            return Ok(());
        };
        let user_id = entity_id(event, "user-")?;
        sqlx::query(
            "INSERT INTO quotas
                 (user_id, storage_bytes, uploads_per_day, processing_seconds_per_day, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id) DO UPDATE SET
                 storage_bytes = EXCLUDED.storage_bytes,
                 uploads_per_day = EXCLUDED.uploads_per_day,
                 processing_seconds_per_day = EXCLUDED.processing_seconds_per_day,
                 updated_at = EXCLUDED.updated_at",
        )
        .bind(user_id)
        .bind(to_i64(q.storage_bytes))
        .bind(to_i64(q.uploads_per_day))
        .bind(to_i64(q.processing_seconds_per_day))
        .bind(event.recorded_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// A row of `quotas`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct QuotaRow {
    pub user_id: Uuid,
    pub storage_bytes: Option<i64>,
    pub uploads_per_day: Option<i64>,
    pub processing_seconds_per_day: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// The limits set for a user (`None`: none set, all defaults).
pub async fn get(pool: &PgPool, user_id: Uuid) -> Result<Option<QuotaRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, storage_bytes, uploads_per_day, processing_seconds_per_day, updated_at
         FROM rm_quotas.quotas WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await
}
