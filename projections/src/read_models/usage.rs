//! Read model `usage`: per user, per day (UTC, from the ledger event's time) and per modality,
//! what was uploaded and processed; and each user's current totals.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use tessera_events::content::UsageEvent;
use tessera_events::{RecordedEvent, UserId};
use uuid::Uuid;

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "usage";

const SETUP: &str = "
CREATE TABLE daily (
    user_id        uuid   NOT NULL,
    day            date   NOT NULL,
    modality       text   NOT NULL,
    uploads        bigint NOT NULL DEFAULT 0,
    bytes_uploaded bigint NOT NULL DEFAULT 0,
    bytes_released bigint NOT NULL DEFAULT 0,
    processing_ms  bigint NOT NULL DEFAULT 0,
    tokens_in      bigint NOT NULL DEFAULT 0,
    tokens_out     bigint NOT NULL DEFAULT 0,
    audio_ms       bigint NOT NULL DEFAULT 0,
    generations    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day, modality)
);
CREATE INDEX daily_day ON daily (day);
CREATE TABLE totals (
    user_id      uuid        PRIMARY KEY,
    stored_bytes bigint      NOT NULL,
    items        bigint      NOT NULL,
    updated_at   timestamptz NOT NULL
);
";

/// Projects `usage.*` ledger events into `daily` and `totals`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageProjection;

#[async_trait]
impl Projection for UsageProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        2
    }

    fn setup_sql(&self) -> &'static str {
        SETUP
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if !event.event_type.starts_with("usage.") {
            return Ok(());
        }
        let user = entity_id(event, "usage-")?;
        let day = event.recorded_at.date_naive();
        let e = decode::<UsageEvent>(event)?;
        let mut row = DailyDelta::default();
        let modality = match &e {
            // Reservations change neither a day's usage nor what is stored.
            UsageEvent::StorageReserved { .. } | UsageEvent::ReservationEnded { .. } => {
                return Ok(())
            }
            UsageEvent::UploadRecorded {
                modality, bytes, ..
            } => {
                row.uploads = 1;
                row.bytes_uploaded = *bytes as i64;
                modality
            }
            UsageEvent::StorageReleased {
                modality, bytes, ..
            } => {
                row.bytes_released = *bytes as i64;
                modality
            }
            UsageEvent::ProcessingRecorded {
                modality,
                processing_ms,
                ..
            } => {
                row.processing_ms = *processing_ms as i64;
                modality
            }
            UsageEvent::GenerationRecorded {
                modality,
                tokens_in,
                tokens_out,
                audio_ms,
                processing_ms,
                ..
            } => {
                row.generations = 1;
                row.tokens_in = *tokens_in as i64;
                row.tokens_out = *tokens_out as i64;
                row.audio_ms = *audio_ms as i64;
                row.processing_ms = *processing_ms as i64;
                modality
            }
        };
        sqlx::query(
            "INSERT INTO daily (user_id, day, modality, uploads, bytes_uploaded, bytes_released,
                 processing_ms, tokens_in, tokens_out, audio_ms, generations)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (user_id, day, modality) DO UPDATE SET
                 uploads = daily.uploads + EXCLUDED.uploads,
                 bytes_uploaded = daily.bytes_uploaded + EXCLUDED.bytes_uploaded,
                 bytes_released = daily.bytes_released + EXCLUDED.bytes_released,
                 processing_ms = daily.processing_ms + EXCLUDED.processing_ms,
                 tokens_in = daily.tokens_in + EXCLUDED.tokens_in,
                 tokens_out = daily.tokens_out + EXCLUDED.tokens_out,
                 audio_ms = daily.audio_ms + EXCLUDED.audio_ms,
                 generations = daily.generations + EXCLUDED.generations",
        )
        .bind(user)
        .bind(day)
        .bind(modality.as_str())
        .bind(row.uploads)
        .bind(row.bytes_uploaded)
        .bind(row.bytes_released)
        .bind(row.processing_ms)
        .bind(row.tokens_in)
        .bind(row.tokens_out)
        .bind(row.audio_ms)
        .bind(row.generations)
        .execute(&mut *conn)
        .await?;
        let t = e.totals();
        sqlx::query(
            "INSERT INTO totals (user_id, stored_bytes, items, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id) DO UPDATE SET stored_bytes = EXCLUDED.stored_bytes,
                 items = EXCLUDED.items, updated_at = EXCLUDED.updated_at",
        )
        .bind(user)
        .bind(t.stored_bytes as i64)
        .bind(t.items as i64)
        .bind(event.recorded_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// What one ledger event adds to its day's row.
#[derive(Debug, Default)]
struct DailyDelta {
    uploads: i64,
    bytes_uploaded: i64,
    bytes_released: i64,
    processing_ms: i64,
    tokens_in: i64,
    tokens_out: i64,
    audio_ms: i64,
    generations: i64,
}

/// A row of `daily`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct DailyRow {
    pub user_id: Uuid,
    pub day: NaiveDate,
    pub modality: String,
    pub uploads: i64,
    pub bytes_uploaded: i64,
    pub bytes_released: i64,
    pub processing_ms: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub audio_ms: i64,
    pub generations: i64,
}

/// A row of `totals`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct TotalsRow {
    pub user_id: Uuid,
    pub stored_bytes: i64,
    pub items: i64,
    pub updated_at: DateTime<Utc>,
}

/// Daily rows of one user (or everyone, with `None`) between two days inclusive.
pub async fn daily(
    pool: &PgPool,
    user: Option<UserId>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DailyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, day, modality, uploads, bytes_uploaded, bytes_released, processing_ms,
                tokens_in, tokens_out, audio_ms, generations
         FROM rm_usage.daily
         WHERE ($1::uuid IS NULL OR user_id = $1) AND day BETWEEN $2 AND $3
         ORDER BY user_id, day, modality
         LIMIT 10000",
    )
    .bind(user)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Current totals of one user.
pub async fn totals(pool: &PgPool, user: Uuid) -> Result<Option<TotalsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, stored_bytes, items, updated_at FROM rm_usage.totals WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(pool)
    .await
}

/// Current totals of every user, largest first.
pub async fn all_totals(pool: &PgPool, limit: i64) -> Result<Vec<TotalsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, stored_bytes, items, updated_at FROM rm_usage.totals
         ORDER BY stored_bytes DESC, user_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}
