//! Read model `users`: one row per account, for admin listings and profiles.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::users::{Role, UserEvent};
use tessera_events::RecordedEvent;
use uuid::Uuid;

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "users";

const SETUP: &str = "
CREATE TABLE users (
    id           uuid        PRIMARY KEY,
    email        text        NOT NULL,
    display_name text        NOT NULL,
    role         text        NOT NULL,
    disabled     boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
-- Not UNIQUE: the email claim streams already guarantee it, and a constraint here could only
-- turn a domain bug into a stuck projection.
CREATE INDEX users_email ON users (email);
CREATE INDEX users_active_admins ON users (id) WHERE role = 'admin' AND NOT disabled;
";

/// Projects `user.*` events into `users`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsersProjection;

#[async_trait]
impl Projection for UsersProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
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
        if !event.event_type.starts_with("user.") {
            return Ok(());
        }
        let id = entity_id(event, "user-")?;
        let at = event.recorded_at;
        let q = match decode::<UserEvent>(event)? {
            UserEvent::Registered {
                email,
                display_name,
                role,
                ..
            } => sqlx::query(
                "INSERT INTO users (id, email, display_name, role, disabled, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, false, $5, $5)",
            )
            .bind(id)
            .bind(email)
            .bind(display_name)
            .bind(role.as_str())
            .bind(at),
            UserEvent::RoleChanged { role } => {
                sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(role.as_str())
                    .bind(at)
            }
            UserEvent::Disabled {} => {
                sqlx::query("UPDATE users SET disabled = true, updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
            }
            UserEvent::Enabled {} => {
                sqlx::query("UPDATE users SET disabled = false, updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
            }
            UserEvent::PasswordChanged { .. } | UserEvent::QuotaSet(_) => {
                sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
            }
        };
        q.execute(conn).await?;
        Ok(())
    }
}

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRow {
    /// The role; an unknown one (a newer writer's) reads as the least privileged.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::User)
    }
}

/// One user by id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, display_name, role, disabled, created_at, updated_at
         FROM rm_users.users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Users ordered by id (ids are UUIDv7, so roughly by sign-up time), after a cursor.
pub async fn list(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, display_name, role, disabled, created_at, updated_at
         FROM rm_users.users WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many admins can still sign in.
pub async fn count_active_admins(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM rm_users.users WHERE role = 'admin' AND NOT disabled")
        .fetch_one(pool)
        .await
}
