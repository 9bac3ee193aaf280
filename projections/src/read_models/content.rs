//! Read model `content`: each user's library, one row per item that is not purged (soft-deleted
//! items stay, flagged, until purged), with previews as recorded.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use tessera_events::content::{ContentEvent, Modality, Source};
use tessera_events::{ContentId, RecordedEvent};
use uuid::Uuid;

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "content";

// Trigram indexes need pg_trgm, which a migration creates in schema `public`.
const SETUP: &str = "
CREATE TABLE items (
    id            uuid        PRIMARY KEY,
    owner         uuid        NOT NULL,
    title         text        NOT NULL,
    -- Titles sort without regard to case, whatever the database's collation.
    title_key     text        GENERATED ALWAYS AS (lower(title)) STORED,
    filename      text,
    description   text,
    modality      text        NOT NULL,
    mime          text        NOT NULL,
    extension     text        NOT NULL,
    size          bigint      NOT NULL,
    sha256        text        NOT NULL,
    blob_key      text        NOT NULL,
    media         jsonb       NOT NULL,
    tags          text[]      NOT NULL,
    source        text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    purge_after   timestamptz,
    preview_state text        NOT NULL,
    previews      jsonb,
    preview_error text,
    -- What the models found: pending until the item's first analysis job ends.
    analysis_state text       NOT NULL,
    analysis      jsonb,
    analysis_error text,
    -- How a model made the item (generated items only): kind, sources, provenance.
    generation    jsonb,
    version       bigint      NOT NULL
);
CREATE INDEX items_live ON items (owner, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX items_live_modality ON items (owner, modality, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX items_trash ON items (owner, deleted_at DESC, id DESC) WHERE deleted_at IS NOT NULL;
CREATE INDEX items_owner_sha ON items (owner, sha256);
CREATE INDEX items_sha ON items (sha256);
CREATE INDEX items_tags ON items USING gin (tags);
CREATE INDEX items_text ON items
    USING gin ((title || ' ' || coalesce(description, '')) public.gin_trgm_ops);
CREATE INDEX items_purge ON items (purge_after) WHERE deleted_at IS NOT NULL;
CREATE INDEX items_pending ON items (created_at) WHERE preview_state = 'pending';
CREATE INDEX items_generated_from ON items USING gin ((generation -> 'generated_from'))
    WHERE generation IS NOT NULL;
";

/// Projects `content.*` events into `items`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContentProjection;

fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value, ProjectionError> {
    serde_json::to_value(v).map_err(|e| ProjectionError::Decode(e.to_string()))
}

#[async_trait]
impl Projection for ContentProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        3
    }

    fn setup_sql(&self) -> &'static str {
        SETUP
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if !event.event_type.starts_with("content.") {
            return Ok(());
        }
        let id = entity_id(event, "content-")?;
        let at = event.recorded_at;
        let version = event.stream_version as i64;
        let q = match decode::<ContentEvent>(event)? {
            ContentEvent::Uploaded(u) => {
                let u = *u;
                // Nothing to preview in a note or a generated text; the rest wait for the
                // preview step.
                let preview_state = if u.source == Source::Note
                    || (u.source == Source::Generated && u.modality == Modality::Text)
                {
                    "none"
                } else {
                    "pending"
                };
                sqlx::query(
                    "INSERT INTO items (id, owner, title, filename, description, modality, mime,
                         extension, size, sha256, blob_key, media, tags, source, created_at,
                         updated_at, preview_state, analysis_state, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                         $15, $16, 'pending', $17)",
                )
                .bind(id)
                .bind(u.owner)
                .bind(u.title)
                .bind(u.filename)
                .bind(u.description)
                .bind(u.modality.as_str())
                .bind(u.mime)
                .bind(u.extension)
                .bind(u.size as i64)
                .bind(u.sha256)
                .bind(u.blob_key)
                .bind(to_json(&u.media)?)
                .bind(u.tags)
                .bind(u.source.as_str())
                .bind(at)
                .bind(preview_state)
                .bind(version)
            }
            ContentEvent::Renamed { title } => sqlx::query(
                "UPDATE items SET title = $2, updated_at = $3, version = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(title)
            .bind(at)
            .bind(version),
            ContentEvent::Described { description } => sqlx::query(
                "UPDATE items SET description = $2, updated_at = $3, version = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(description)
            .bind(at)
            .bind(version),
            ContentEvent::Tagged { tag } => sqlx::query(
                "UPDATE items SET tags = array_append(array_remove(tags, $2), $2),
                     updated_at = $3, version = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(tag)
            .bind(at)
            .bind(version),
            ContentEvent::Untagged { tag } => sqlx::query(
                "UPDATE items SET tags = array_remove(tags, $2), updated_at = $3, version = $4
                 WHERE id = $1",
            )
            .bind(id)
            .bind(tag)
            .bind(at)
            .bind(version),
            ContentEvent::Deleted { purge_after } => sqlx::query(
                "UPDATE items SET deleted_at = $2, purge_after = $3, updated_at = $2,
                     version = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(purge_after)
            .bind(version),
            ContentEvent::Restored {} => sqlx::query(
                "UPDATE items SET deleted_at = NULL, purge_after = NULL, updated_at = $2,
                     version = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(version),
            ContentEvent::Purged {} => sqlx::query("DELETE FROM items WHERE id = $1").bind(id),
            ContentEvent::PreviewsGenerated(p) => sqlx::query(
                "UPDATE items SET preview_state = 'ready', previews = $2, preview_error = NULL,
                     version = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(to_json(&p)?)
            .bind(version),
            ContentEvent::PreviewsFailed { code, .. } => sqlx::query(
                "UPDATE items SET preview_state = 'failed', preview_error = $2, version = $3
                 WHERE id = $1",
            )
            .bind(id)
            .bind(code)
            .bind(version),
            ContentEvent::Analysed { analysis, .. } => sqlx::query(
                "UPDATE items SET analysis_state = 'ready', analysis = $2, analysis_error = NULL,
                     version = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(to_json(&analysis)?)
            .bind(version),
            ContentEvent::Generated(g) => {
                sqlx::query("UPDATE items SET generation = $2, version = $3 WHERE id = $1")
                    .bind(id)
                    .bind(to_json(&g)?)
                    .bind(version)
            }
            // A failed reprocess keeps the earlier analysis.
            ContentEvent::AnalysisFailed { code, .. } => sqlx::query(
                "UPDATE items SET analysis_error = $2, version = $3,
                     analysis_state = CASE WHEN analysis IS NULL THEN 'failed'
                                           ELSE analysis_state END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(code)
            .bind(version),
        };
        q.execute(conn).await?;
        Ok(())
    }
}

/// A row of `items`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ItemRow {
    pub id: Uuid,
    pub owner: Uuid,
    pub title: String,
    /// The title as it sorts.
    pub title_key: String,
    pub filename: Option<String>,
    pub description: Option<String>,
    pub modality: String,
    pub mime: String,
    pub extension: String,
    pub size: i64,
    pub sha256: String,
    pub blob_key: String,
    pub media: serde_json::Value,
    pub tags: Vec<String>,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub purge_after: Option<DateTime<Utc>>,
    pub preview_state: String,
    pub previews: Option<serde_json::Value>,
    pub preview_error: Option<String>,
    pub analysis_state: String,
    pub analysis: Option<serde_json::Value>,
    pub analysis_error: Option<String>,
    pub generation: Option<serde_json::Value>,
    pub version: i64,
}

const COLUMNS: &str =
    "id, owner, title, title_key, filename, description, modality, mime, extension, size,
    sha256, blob_key, media, tags, source, created_at, updated_at, deleted_at, purge_after,
    preview_state, previews, preview_error, analysis_state, analysis, analysis_error, generation,
    version";

/// One item by id, whoever owns it (callers check ownership).
pub async fn get(pool: &PgPool, id: ContentId) -> Result<Option<ItemRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rm_content.items WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The owner's live item with these bytes, if any (uploading the same bytes again returns it).
pub async fn find_by_sha(
    pool: &PgPool,
    owner: Uuid,
    sha256: &str,
) -> Result<Option<ItemRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rm_content.items
         WHERE owner = $1 AND sha256 = $2 AND deleted_at IS NULL
         ORDER BY created_at LIMIT 1"
    ))
    .bind(owner)
    .bind(sha256)
    .fetch_optional(pool)
    .await
}

/// How far the content read model has applied the log: events after this position may not be
/// in it yet.
pub async fn applied_position(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let position: i64 = sqlx::query_scalar(
        "SELECT coalesce(min(position), 0) FROM projection_checkpoints WHERE name = $1",
    )
    .bind(NAME)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(position).unwrap_or(0))
}

/// Whether any item (of anyone, deleted or not) still refers to these bytes.
pub async fn sha_referenced(pool: &PgPool, sha256: &str) -> Result<bool, sqlx::Error> {
    sha_referenced_except(pool, sha256, None).await
}

/// Whether an item other than `except` (of anyone, deleted or not) refers to these bytes: a
/// purged item's bytes stay while another item holds them.
pub async fn sha_referenced_except(
    pool: &PgPool,
    sha256: &str,
    except: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rm_content.items
         WHERE sha256 = $1 AND ($2::uuid IS NULL OR id <> $2))",
    )
    .bind(sha256)
    .bind(except)
    .fetch_one(pool)
    .await
}

/// Deleted items whose restore period has ended.
pub async fn due_for_purge(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, owner FROM rm_content.items
         WHERE deleted_at IS NOT NULL AND purge_after <= $1
         ORDER BY purge_after LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Items still waiting for previews since before `before`.
pub async fn pending_previews(
    pool: &PgPool,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ItemRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rm_content.items
         WHERE preview_state = 'pending' AND created_at < $1
         ORDER BY created_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    CreatedAt,
    UpdatedAt,
    Title,
    Size,
}

impl SortKey {
    fn column(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Title => "title_key",
            Self::Size => "size",
        }
    }
}

/// Where the previous page ended: the sort value and id of its last row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub value: CursorValue,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorValue {
    Int(i64),
    Time(DateTime<Utc>),
    Text(String),
}

impl Cursor {
    /// Whether this cursor can continue a listing sorted by `sort`.
    pub fn fits(&self, sort: SortKey) -> bool {
        matches!(
            (&self.value, sort),
            (
                CursorValue::Time(_),
                SortKey::CreatedAt | SortKey::UpdatedAt
            ) | (CursorValue::Text(_), SortKey::Title)
                | (CursorValue::Int(_), SortKey::Size)
        )
    }
}

/// A listing's filters, order and page.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub owner: Uuid,
    pub modality: Option<String>,
    pub tag: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Text searched for in the title and the description (case-insensitive).
    pub text: Option<String>,
    /// Only items a model made from this item.
    pub generated_from: Option<Uuid>,
    /// List the trash (soft-deleted items) instead of the library.
    pub deleted: bool,
    pub sort: SortKey,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn cursor_of(row: &ItemRow, sort: SortKey) -> Cursor {
    let value = match sort {
        SortKey::CreatedAt => CursorValue::Time(row.created_at),
        SortKey::UpdatedAt => CursorValue::Time(row.updated_at),
        SortKey::Title => CursorValue::Text(row.title_key.clone()),
        SortKey::Size => CursorValue::Int(row.size),
    };
    Cursor { value, id: row.id }
}

/// The tags on the owner's items (not in the trash), most used first, with how many items carry
/// each; at most `limit`.
pub async fn tags(
    pool: &PgPool,
    owner: Uuid,
    limit: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tag, count(*) FROM rm_content.items, unnest(tags) AS tag
         WHERE owner = $1 AND deleted_at IS NULL
         GROUP BY tag ORDER BY count(*) DESC, tag LIMIT $2",
    )
    .bind(owner)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A page of the owner's items and the cursor of the next page, if there is one.
pub async fn list(
    pool: &PgPool,
    q: &ListQuery,
) -> Result<(Vec<ItemRow>, Option<Cursor>), sqlx::Error> {
    let limit = q.limit.clamp(1, 200);
    let mut b: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM rm_content.items WHERE owner = "
    ));
    b.push_bind(q.owner);
    b.push(if q.deleted {
        " AND deleted_at IS NOT NULL"
    } else {
        " AND deleted_at IS NULL"
    });
    if let Some(m) = &q.modality {
        b.push(" AND modality = ").push_bind(m.clone());
    }
    if let Some(t) = &q.tag {
        b.push(" AND tags @> ARRAY[")
            .push_bind(t.clone())
            .push("]::text[]");
    }
    if let Some(source) = q.generated_from {
        b.push(" AND generation -> 'generated_from' @> jsonb_build_array(")
            .push_bind(source.to_string())
            .push("::text)");
    }
    if let Some(f) = q.created_from {
        b.push(" AND created_at >= ").push_bind(f);
    }
    if let Some(t) = q.created_to {
        b.push(" AND created_at < ").push_bind(t);
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.trim().is_empty()) {
        b.push(" AND (title || ' ' || coalesce(description, '')) ILIKE ")
            .push_bind(like_pattern(text.trim()));
    }
    let col = q.sort.column();
    let (cmp, dir) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(c) = &q.after {
        b.push(format!(" AND ({col}, id) {cmp} ("));
        match &c.value {
            CursorValue::Int(v) => b.push_bind(*v),
            CursorValue::Time(v) => b.push_bind(*v),
            CursorValue::Text(v) => b.push_bind(v.clone()),
        };
        b.push(", ").push_bind(c.id).push(")");
    }
    b.push(format!(" ORDER BY {col} {dir}, id {dir} LIMIT "))
        .push_bind(limit + 1);
    let mut rows: Vec<ItemRow> = b.build_query_as().fetch_all(pool).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| cursor_of(r, q.sort))
    } else {
        None
    };
    Ok((rows, next))
}
