//! Read model `users`: one row per account, for admin listings and profiles.

use std::collections::HashMap;

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
    -- A sign-up waiting for an administrator's approval.
    pending      boolean     NOT NULL DEFAULT false,
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
                pending_approval,
                ..
            } => sqlx::query(
                "INSERT INTO users
                   (id, email, display_name, role, disabled, pending, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, false, $5, $6, $6)",
            )
            .bind(id)
            .bind(email)
            .bind(display_name)
            .bind(role.as_str())
            .bind(pending_approval)
            .bind(at),
            UserEvent::Approved {} => {
                sqlx::query("UPDATE users SET pending = false, updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
            }
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
            UserEvent::PasswordChanged { .. }
            | UserEvent::QuotaSet(_)
            | UserEvent::SessionsEnded { .. } => {
                sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
            }
        };
        q.execute(conn).await?;
        Ok(())
    }

    /// Collapses the batch to one write per user — accounts registered in it are inserted whole,
    /// the others patched — in two statements. The result equals applying the events in turn.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut new_rows: Vec<UserRow> = Vec::new();
        let mut new_index: HashMap<Uuid, usize> = HashMap::new();
        let mut patches: Vec<Patch> = Vec::new();
        let mut patch_index: HashMap<Uuid, usize> = HashMap::new();
        for event in events.iter().filter(|e| e.event_type.starts_with("user.")) {
            let id = entity_id(event, "user-")?;
            let at = event.recorded_at;
            let change = match decode::<UserEvent>(event)? {
                UserEvent::Registered {
                    email,
                    display_name,
                    role,
                    pending_approval,
                    ..
                } => {
                    new_index.insert(id, new_rows.len());
                    new_rows.push(UserRow {
                        id,
                        email,
                        display_name,
                        role: role.as_str().to_owned(),
                        disabled: false,
                        pending: pending_approval,
                        created_at: at,
                        updated_at: at,
                    });
                    continue;
                }
                UserEvent::RoleChanged { role } => Change::Role(role.as_str()),
                UserEvent::Disabled {} => Change::Disabled(true),
                UserEvent::Enabled {} => Change::Disabled(false),
                UserEvent::Approved {} => Change::Approved,
                UserEvent::PasswordChanged { .. }
                | UserEvent::QuotaSet(_)
                | UserEvent::SessionsEnded { .. } => Change::Touch,
            };
            if let Some(&i) = new_index.get(&id) {
                let row = &mut new_rows[i];
                match change {
                    Change::Role(r) => row.role = r.to_owned(),
                    Change::Disabled(d) => row.disabled = d,
                    Change::Approved => row.pending = false,
                    Change::Touch => {}
                }
                row.updated_at = at;
                continue;
            }
            let i = *patch_index.entry(id).or_insert_with(|| {
                patches.push(Patch {
                    id,
                    role: None,
                    disabled: None,
                    approved: false,
                    updated_at: at,
                });
                patches.len() - 1
            });
            let patch = &mut patches[i];
            match change {
                Change::Role(r) => patch.role = Some(r.to_owned()),
                Change::Disabled(d) => patch.disabled = Some(d),
                Change::Approved => patch.approved = true,
                Change::Touch => {}
            }
            patch.updated_at = at;
        }
        if !new_rows.is_empty() {
            sqlx::query(
                "INSERT INTO users
                   (id, email, display_name, role, disabled, pending, created_at, updated_at)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],
                                      $5::bool[], $6::bool[], $7::timestamptz[],
                                      $8::timestamptz[])",
            )
            .bind(new_rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(
                new_rows
                    .iter()
                    .map(|r| r.email.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                new_rows
                    .iter()
                    .map(|r| r.display_name.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(new_rows.iter().map(|r| r.role.as_str()).collect::<Vec<_>>())
            .bind(new_rows.iter().map(|r| r.disabled).collect::<Vec<_>>())
            .bind(new_rows.iter().map(|r| r.pending).collect::<Vec<_>>())
            .bind(new_rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .bind(new_rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        if !patches.is_empty() {
            sqlx::query(
                "UPDATE users u SET role = COALESCE(p.role, u.role),
                                    disabled = COALESCE(p.disabled, u.disabled),
                                    pending = u.pending AND NOT p.approved,
                                    updated_at = p.updated_at
                 FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::bool[],
                             $5::timestamptz[])
                      AS p(id, role, disabled, approved, updated_at)
                 WHERE u.id = p.id",
            )
            .bind(patches.iter().map(|p| p.id).collect::<Vec<_>>())
            .bind(patches.iter().map(|p| p.role.clone()).collect::<Vec<_>>())
            .bind(patches.iter().map(|p| p.disabled).collect::<Vec<_>>())
            .bind(patches.iter().map(|p| p.approved).collect::<Vec<_>>())
            .bind(patches.iter().map(|p| p.updated_at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// What a non-registration event changes on a user row.
enum Change {
    Role(&'static str),
    Disabled(bool),
    Approved,
    Touch,
}

/// The net change of a batch to a user registered before it.
struct Patch {
    id: Uuid,
    role: Option<String>,
    disabled: Option<bool>,
    approved: bool,
    updated_at: DateTime<Utc>,
}

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
    /// A sign-up waiting for an administrator's approval.
    pub pending: bool,
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
        "SELECT id, email, display_name, role, disabled, pending, created_at, updated_at
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
        "SELECT id, email, display_name, role, disabled, pending, created_at, updated_at
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
