//! Read model `search`: every piece of text Tessera knows about an item (its title, its owner's
//! description, what the models found, a text's paragraphs), cut into chunks that point into the
//! item, each with its embedding and its `tsvector`. HNSW on the vectors, GIN on the words.
//!
//! It is a projection like the others: rebuilt from the log into a shadow schema and swapped in
//! when caught up, so queries never see a half-built index. Two things it needs come from
//! outside, through [`SearchInputs`]: the embedding model (every chunk is embedded as it is
//! indexed, through the node's model instance, charged to no one) and a text item's own text
//! (the log holds only its blob key). The embedding model's generation is part of the version:
//! a new model rebuilds the index beside the old one.
//!
//! Conversations are indexed beside the items, message by message (`messages`): they are
//! their owner's alone.

mod chunks;
mod messages;
pub mod query;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use pgvector::Vector;
use sqlx::{PgConnection, QueryBuilder};
use tessera_events::content::{ContentEvent, Modality};
use tessera_events::RecordedEvent;
use uuid::Uuid;

pub use chunks::{paragraphs, Chunk, ChunkKind, MAX_TEXT_BYTES};
use chunks::{ORD_DESCRIPTION, ORD_FINDINGS, ORD_TITLE};

use super::{decode, entity_id};
use crate::{Projection, ProjectionError};

pub const NAME: &str = "search";

/// The chunk layout's version; bump it when what is indexed, or how, changes (2: messages of
/// conversations).
const LAYOUT: i32 = 2;

/// The embedding's dimensions (the `vector` column's type).
pub const DIMENSIONS: usize = 384;

const SETUP: &str = "
CREATE TABLE items (
    id          uuid        PRIMARY KEY,
    owner       uuid        NOT NULL,
    modality    text        NOT NULL,
    tags        text[]      NOT NULL,
    created_at  timestamptz NOT NULL,
    -- Where a text item's text is (its paragraphs are indexed when it is analysed).
    blob_key    text        NOT NULL,
    -- In the trash: kept, not found.
    deleted     boolean     NOT NULL DEFAULT false
);
CREATE TABLE chunks (
    item_id     uuid        NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    ord         int         NOT NULL,
    owner       uuid        NOT NULL,
    modality    text        NOT NULL,
    kind        text        NOT NULL,
    text        text        NOT NULL,
    start_ms    int,
    end_ms      int,
    bbox        real[],
    keyframe    int,
    byte_start  int,
    byte_end    int,
    tsv         tsvector    GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    embedding   vector(384) NOT NULL,
    PRIMARY KEY (item_id, ord)
);
CREATE INDEX chunks_owner ON chunks (owner, modality);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_cosine_ops);
CREATE TABLE conversations (
    id          uuid        PRIMARY KEY,
    owner       uuid        NOT NULL,
    title       text        NOT NULL
);
CREATE TABLE messages (
    conversation_id uuid    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- A posted message's id, or an answer's.
    message_id  uuid        NOT NULL,
    -- Its paragraph's place in it.
    ord         int         NOT NULL,
    owner       uuid        NOT NULL,
    -- `user` or `assistant`.
    role        text        NOT NULL,
    text        text        NOT NULL,
    byte_start  int         NOT NULL,
    byte_end    int         NOT NULL,
    created_at  timestamptz NOT NULL,
    tsv         tsvector    GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    embedding   vector(384) NOT NULL,
    PRIMARY KEY (message_id, ord)
);
CREATE INDEX messages_owner ON messages (owner, created_at);
CREATE INDEX messages_tsv ON messages USING gin (tsv);
CREATE INDEX messages_embedding ON messages USING hnsw (embedding vector_cosine_ops);
";

/// What the index needs from outside the log.
#[async_trait]
pub trait SearchInputs: Send + Sync + 'static {
    /// Embeds `texts`, one vector of [`DIMENSIONS`] per text, in order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String>;

    /// A text item's text (at most [`MAX_TEXT_BYTES`], invalid UTF-8 replaced); `None` when
    /// its bytes are gone (purged since).
    async fn text(&self, item: Uuid, blob_key: &str) -> Result<Option<String>, String>;

    /// The embedding model's generation: a new one rebuilds the index (1–999).
    fn generation(&self) -> i32;
}

/// The search read model over `inputs`.
pub struct SearchProjection {
    inputs: Arc<dyn SearchInputs>,
}

/// Chunks waiting to be embedded and written: a batch embeds all of its items' chunks at once
/// (the model instance batches them), not event by event.
#[derive(Default)]
struct Pending {
    /// `(item, ord, chunk)`, in order.
    chunks: Vec<(Uuid, i32, Chunk)>,
    /// The items with chunks pushed since the last flush (a batch asks for each of its events);
    /// one whose chunks were dropped since stays, which costs at most an early flush.
    items: HashSet<Uuid>,
    /// Paragraphs of conversations' messages.
    messages: messages::PendingMessages,
}

impl Pending {
    fn holds(&self, item: Uuid) -> bool {
        self.items.contains(&item)
    }

    fn push(&mut self, item: Uuid, first_ord: i32, chunks: Vec<Chunk>) {
        if !chunks.is_empty() {
            self.items.insert(item);
        }
        self.chunks
            .extend((first_ord..).zip(chunks).map(|(ord, c)| (item, ord, c)));
    }

    /// Forgets the item's chunks from `ord` on (they are being replaced).
    fn drop_from(&mut self, item: Uuid, ord: i32) {
        if self.holds(item) {
            self.chunks.retain(|c| c.0 != item || c.1 < ord);
        }
    }
}

impl SearchProjection {
    pub fn new(inputs: Arc<dyn SearchInputs>) -> Self {
        Self { inputs }
    }

    /// Embeds every pending chunk in one go and writes them.
    async fn flush(
        &self,
        conn: &mut PgConnection,
        pending: &mut Pending,
    ) -> Result<(), ProjectionError> {
        pending.items.clear();
        let chunks = std::mem::take(&mut pending.chunks);
        let parts = std::mem::take(&mut pending.messages.parts);
        if chunks.is_empty() && parts.is_empty() {
            return Ok(());
        }
        // One call for both: the model instance batches them.
        let texts: Vec<String> = chunks
            .iter()
            .map(|c| c.2.text.clone())
            .chain(parts.iter().map(|p| p.text.clone()))
            .collect();
        let wanted = texts.len();
        let mut vectors = self
            .inputs
            .embed(texts)
            .await
            .map_err(ProjectionError::Input)?;
        if vectors.len() != wanted || vectors.iter().any(|v| v.len() != DIMENSIONS) {
            return Err(ProjectionError::Input(format!(
                "the embedding model gave {} vectors for {wanted} texts (want {DIMENSIONS} \
                 dimensions)",
                vectors.len(),
            )));
        }
        let message_vectors = vectors.split_off(chunks.len());
        let parts: Vec<_> = parts.into_iter().zip(message_vectors).collect();
        messages::write(conn, &parts).await?;
        let rows: Vec<((Uuid, i32, Chunk), Vec<f32>)> = chunks.into_iter().zip(vectors).collect();
        for part in rows.chunks(1_000) {
            // Owner and modality come from the item's row (an item purged meanwhile has none,
            // and its chunks are not written).
            let mut q = QueryBuilder::new(
                "INSERT INTO chunks (item_id, ord, owner, modality, kind, text, start_ms, end_ms, \
                 bbox, keyframe, byte_start, byte_end, embedding) \
                 SELECT r.item_id, r.ord, i.owner, i.modality, r.kind, r.text, r.start_ms, \
                 r.end_ms, r.bbox, r.keyframe, r.byte_start, r.byte_end, r.embedding FROM (",
            );
            q.push_values(part, |mut b, ((item, ord, c), v)| {
                b.push_bind(*item)
                    .push_bind(*ord)
                    .push_bind(c.kind.as_str())
                    .push_bind(&c.text)
                    .push_bind(c.start_ms)
                    .push_bind(c.end_ms)
                    .push_bind(c.bbox.map(|b| b.to_vec()))
                    .push_bind(c.keyframe)
                    .push_bind(c.range.map(|r| r.0))
                    .push_bind(c.range.map(|r| r.1))
                    .push_bind(Vector::from(v.clone()));
            });
            q.push(
                ") AS r (item_id, ord, kind, text, start_ms, end_ms, bbox, keyframe, byte_start, \
                 byte_end, embedding) JOIN items i ON i.id = r.item_id",
            );
            q.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Applies one event; the chunks it adds wait in `pending` (flushed first when the event
    /// touches an item with chunks pending in another way).
    async fn step(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
        pending: &mut Pending,
    ) -> Result<(), ProjectionError> {
        if event.event_type.starts_with("conversation.") {
            return messages::step(conn, event, &mut pending.messages).await;
        }
        if !event.event_type.starts_with("content.") {
            return Ok(());
        }
        let id = entity_id(event, "content-")?;
        let change = decode::<ContentEvent>(event)?;
        if pending.holds(id)
            && !matches!(
                change,
                ContentEvent::Uploaded(_) | ContentEvent::Analysed { .. }
            )
        {
            self.flush(conn, pending).await?;
        }
        match change {
            ContentEvent::Uploaded(u) => {
                sqlx::query(
                    "INSERT INTO items (id, owner, modality, tags, created_at, blob_key) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(u.owner)
                .bind(u.modality.as_str())
                .bind(&u.tags)
                .bind(event.recorded_at)
                .bind(&u.blob_key)
                .execute(&mut *conn)
                .await?;
                delete_chunks(conn, id, 0, ORD_FINDINGS).await?;
                pending.drop_from(id, 0);
                pending.push(
                    id,
                    ORD_TITLE,
                    Chunk::plain(ChunkKind::Title, &u.title)
                        .into_iter()
                        .collect(),
                );
                let note = u
                    .description
                    .as_deref()
                    .and_then(|d| Chunk::plain(ChunkKind::Note, d));
                pending.push(id, ORD_DESCRIPTION, note.into_iter().collect());
            }
            ContentEvent::Renamed { title } => {
                delete_chunks(conn, id, ORD_TITLE, ORD_TITLE + 1).await?;
                pending.push(
                    id,
                    ORD_TITLE,
                    Chunk::plain(ChunkKind::Title, &title).into_iter().collect(),
                );
            }
            ContentEvent::Described { description } => {
                delete_chunks(conn, id, ORD_DESCRIPTION, ORD_DESCRIPTION + 1).await?;
                let note = description
                    .as_deref()
                    .and_then(|d| Chunk::plain(ChunkKind::Note, d));
                pending.push(id, ORD_DESCRIPTION, note.into_iter().collect());
            }
            ContentEvent::Tagged { tag } => {
                sqlx::query(
                    "UPDATE items SET tags = array_append(tags, $2) \
                     WHERE id = $1 AND NOT ($2 = ANY (tags))",
                )
                .bind(id)
                .bind(tag)
                .execute(&mut *conn)
                .await?;
            }
            ContentEvent::Untagged { tag } => {
                sqlx::query("UPDATE items SET tags = array_remove(tags, $2) WHERE id = $1")
                    .bind(id)
                    .bind(tag)
                    .execute(&mut *conn)
                    .await?;
            }
            ContentEvent::Deleted { .. } => set_deleted(conn, id, true).await?,
            ContentEvent::Restored {} => set_deleted(conn, id, false).await?,
            ContentEvent::Purged {} => {
                sqlx::query("DELETE FROM items WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            ContentEvent::Analysed { analysis, .. } => {
                let text = match analysis.modality() {
                    Modality::Text => self.text_of(conn, id).await?,
                    _ => None,
                };
                delete_chunks(conn, id, ORD_FINDINGS, i32::MAX).await?;
                pending.drop_from(id, ORD_FINDINGS);
                pending.push(
                    id,
                    ORD_FINDINGS,
                    chunks::of_analysis(&analysis, text.as_deref()),
                );
            }
            ContentEvent::PreviewsGenerated(_)
            | ContentEvent::PreviewsFailed { .. }
            | ContentEvent::AnalysisFailed { .. }
            | ContentEvent::Generated(_) => {}
        }
        Ok(())
    }

    /// A text item's text, read through the inputs from the blob its upload named.
    async fn text_of(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
    ) -> Result<Option<String>, ProjectionError> {
        let blob_key: Option<String> =
            sqlx::query_scalar("SELECT blob_key FROM items WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        match blob_key {
            Some(key) => self
                .inputs
                .text(id, &key)
                .await
                .map_err(ProjectionError::Input),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Projection for SearchProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        LAYOUT * 1_000 + self.inputs.generation()
    }

    fn setup_sql(&self) -> &'static str {
        SETUP
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let mut pending = Pending::default();
        self.step(conn, event, &mut pending).await?;
        self.flush(conn, &mut pending).await
    }

    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut pending = Pending::default();
        for event in events {
            self.step(conn, event, &mut pending)
                .await
                .map_err(|source| ProjectionError::Apply {
                    projection: NAME,
                    position: event.global_position,
                    event_type: event.event_type.clone(),
                    source: Box::new(source),
                })?;
        }
        self.flush(conn, &mut pending).await
    }
}

async fn delete_chunks(
    conn: &mut PgConnection,
    id: Uuid,
    from: i32,
    to: i32,
) -> Result<(), ProjectionError> {
    sqlx::query("DELETE FROM chunks WHERE item_id = $1 AND ord >= $2 AND ord < $3")
        .bind(id)
        .bind(from)
        .bind(to)
        .execute(conn)
        .await?;
    Ok(())
}

async fn set_deleted(
    conn: &mut PgConnection,
    id: Uuid,
    deleted: bool,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE items SET deleted = $2 WHERE id = $1")
        .bind(id)
        .bind(deleted)
        .execute(conn)
        .await?;
    Ok(())
}
