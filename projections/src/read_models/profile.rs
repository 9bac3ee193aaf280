//! The signed-in user's profile: `users` joined with `quotas` in one round trip, because
//! `GET /api/me` is the hottest read of the API.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A user's row with the limits set for them (`None`: the configured default).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProfileRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub storage_bytes: Option<i64>,
    pub uploads_per_day: Option<i64>,
    pub processing_seconds_per_day: Option<i64>,
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<ProfileRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.email, u.display_name, u.role, u.disabled, u.created_at, u.updated_at,
                q.storage_bytes, q.uploads_per_day, q.processing_seconds_per_day
         FROM rm_users.users u LEFT JOIN rm_quotas.quotas q ON q.user_id = u.id
         WHERE u.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
