//! Read model `sessions`: a user's sign-ins (refresh-token families), never a token or its hash.
//! A sign-in is live until it is revoked (signed out, reused token), ended with all of the
//! user's (`user.sessions_ended`), or expires.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::users::{SessionEvent, UserEvent};
use tessera_events::RecordedEvent;
use uuid::Uuid;

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "sessions";

const SETUP: &str = "
CREATE TABLE sessions (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL,
    started_at   timestamptz NOT NULL,
    refreshed_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    ended_why    text
);
CREATE INDEX sessions_user ON sessions (user_id, started_at);
";

/// Projects `session.*` events, and `user.sessions_ended`, into `sessions`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionsProjection;

#[async_trait]
impl Projection for SessionsProjection {
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
        let at = event.recorded_at;
        if event.event_type == "user.sessions_ended" {
            let user = entity_id(event, "user-")?;
            if let UserEvent::SessionsEnded {
                at: cut, reason, ..
            } = decode::<UserEvent>(event)?
            {
                sqlx::query(
                    "UPDATE sessions SET ended_at = $3, ended_why = $4
                     WHERE user_id = $1 AND started_at <= $2 AND ended_at IS NULL",
                )
                .bind(user)
                .bind(cut)
                .bind(at)
                .bind(reason)
                .execute(conn)
                .await?;
            }
            return Ok(());
        }
        if !event.event_type.starts_with("session.") {
            return Ok(());
        }
        let id = entity_id(event, "session-")?;
        let q = match decode::<SessionEvent>(event)? {
            SessionEvent::Started {
                user_id,
                expires_at,
                started_at,
                ..
            } => sqlx::query(
                "INSERT INTO sessions (id, user_id, started_at, refreshed_at, expires_at)
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(id)
            .bind(user_id)
            .bind(started_at.unwrap_or(at))
            .bind(expires_at),
            SessionEvent::Refreshed { expires_at, .. } => {
                sqlx::query("UPDATE sessions SET refreshed_at = $2, expires_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .bind(expires_at)
            }
            SessionEvent::Revoked { reason } => sqlx::query(
                "UPDATE sessions SET ended_at = COALESCE(ended_at, $2),
                     ended_why = COALESCE(ended_why, $3) WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(reason),
        };
        q.execute(conn).await?;
        Ok(())
    }
}

/// A row of `sessions`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A user's live sign-ins at `now`, most recently used first.
pub async fn live_for_user(
    pool: &PgPool,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, started_at, refreshed_at, expires_at FROM rm_sessions.sessions
         WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2
         ORDER BY refreshed_at DESC, id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(pool)
    .await
}
