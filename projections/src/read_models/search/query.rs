//! Queries on read model `search`: hybrid ranking (nearest vectors and full-text matches, each
//! taken with its own limit, fused by reciprocal rank in SQL), the vector of an item for "more
//! like this", and highlighted snippets of the hits a page shows.
//!
//! Every filter applies before ranking. pgvector's iterative index scan keeps reading the HNSW
//! index until enough rows pass them, so one user's items among many still fill the list.

use chrono::{DateTime, Utc};
use pgvector::Vector;
use sqlx::PgPool;
use uuid::Uuid;

/// Reciprocal rank fusion's constant: a hit's score is the sum of `1 / (K + rank)` over the
/// rankings it is in.
pub const RRF_K: i64 = 60;

/// The private-use characters `ts_headline` marks a match with in [`snippets`].
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// What to look for, and where.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Whose chunks; `None` searches everyone's (an admin's search).
    pub owner: Option<Uuid>,
    /// The query's embedding; `None` leaves out the vector ranking.
    pub vector: Option<Vector>,
    /// The query as typed, for the full-text ranking: `plainto_tsquery` parses it as the
    /// passages were parsed and wants every word (stop words aside), and reads no operators in
    /// it. `None` leaves out the full-text ranking.
    pub words: Option<String>,
    pub modality: Option<String>,
    pub tag: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Only this item's chunks.
    pub item: Option<Uuid>,
    /// Not this item's chunks ("more like this").
    pub exclude_item: Option<Uuid>,
    /// How many chunks each ranking contributes.
    pub candidates: i64,
}

/// One chunk that ranked, with its place in the item.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChunkHit {
    pub item_id: Uuid,
    pub ord: i32,
    pub owner: Uuid,
    pub kind: String,
    pub modality: String,
    pub text: String,
    pub start_ms: Option<i32>,
    pub end_ms: Option<i32>,
    pub bbox: Option<Vec<f32>>,
    pub keyframe: Option<i32>,
    pub byte_start: Option<i32>,
    pub byte_end: Option<i32>,
    /// Its place in the vector ranking, from 1.
    pub vector_rank: Option<i64>,
    /// Its place in the full-text ranking, from 1.
    pub text_rank: Option<i64>,
    /// The fused score.
    pub score: f64,
}

/// The filters both rankings apply (parameters 3–10).
const FILTERS: &str = "($3::uuid IS NULL OR c.owner = $3)
    AND NOT i.deleted
    AND ($4::text IS NULL OR c.modality = $4)
    AND ($5::text IS NULL OR $5 = ANY (i.tags))
    AND ($6::timestamptz IS NULL OR i.created_at >= $6)
    AND ($7::timestamptz IS NULL OR i.created_at < $7)
    AND ($8::uuid IS NULL OR c.item_id = $8)
    AND ($9::uuid IS NULL OR c.item_id <> $9)";

fn hybrid_sql() -> String {
    format!(
        "WITH v AS (
            SELECT item_id, ord, row_number() OVER (ORDER BY d, item_id, ord) AS r FROM (
                SELECT c.item_id, c.ord, c.embedding <=> $1 AS d
                FROM rm_search.chunks c JOIN rm_search.items i ON i.id = c.item_id
                WHERE $1::vector IS NOT NULL AND {FILTERS}
                ORDER BY c.embedding <=> $1
                LIMIT $10) x
        ),
        t AS (
            SELECT item_id, ord, row_number() OVER (ORDER BY rank DESC, item_id, ord) AS r FROM (
                SELECT c.item_id, c.ord, ts_rank_cd(c.tsv, q) AS rank
                FROM rm_search.chunks c JOIN rm_search.items i ON i.id = c.item_id,
                     plainto_tsquery('english', $2) q
                WHERE $2::text IS NOT NULL AND c.tsv @@ q AND {FILTERS}
                ORDER BY rank DESC
                LIMIT $10) y
        )
        SELECT c.item_id, c.ord, c.owner, c.kind, c.modality, c.text, c.start_ms, c.end_ms,
               c.bbox, c.keyframe, c.byte_start, c.byte_end,
               v.r AS vector_rank, t.r AS text_rank,
               (COALESCE(1.0 / ({RRF_K} + v.r), 0) + COALESCE(1.0 / ({RRF_K} + t.r), 0))::float8
                   AS score
        FROM (SELECT item_id, ord FROM v UNION SELECT item_id, ord FROM t) k
        JOIN rm_search.chunks c USING (item_id, ord)
        LEFT JOIN v USING (item_id, ord)
        LEFT JOIN t USING (item_id, ord)
        ORDER BY score DESC, c.item_id, c.ord"
    )
}

/// A transaction for a ranking query: enough of the HNSW graph for `candidates`, and the index
/// read on until the filters are satisfied (the fusion orders by distance again, so relaxed
/// order is enough).
async fn ranking(
    pool: &PgPool,
    candidates: i64,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        .bind(candidates.clamp(40, 1_000).to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The chunks that rank, best first.
pub async fn hybrid(pool: &PgPool, q: &SearchQuery) -> Result<Vec<ChunkHit>, sqlx::Error> {
    if q.vector.is_none() && q.words.is_none() {
        return Ok(Vec::new());
    }
    let mut tx = ranking(pool, q.candidates).await?;
    let hits = sqlx::query_as::<_, ChunkHit>(&hybrid_sql())
        .bind(q.vector.clone())
        .bind(q.words.as_deref())
        .bind(q.owner)
        .bind(q.modality.as_deref())
        .bind(q.tag.as_deref())
        .bind(q.created_from)
        .bind(q.created_to)
        .bind(q.item)
        .bind(q.exclude_item)
        .bind(q.candidates)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(hits)
}

/// The mean of an item's chunk vectors (what "more like this" looks near); `None` when the
/// item has no chunks (or is not `owner`'s).
pub async fn item_vector(
    pool: &PgPool,
    owner: Option<Uuid>,
    item: Uuid,
) -> Result<Option<Vector>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT avg(embedding) FROM rm_search.chunks
         WHERE item_id = $1 AND ($2::uuid IS NULL OR owner = $2)",
    )
    .bind(item)
    .bind(owner)
    .fetch_one(pool)
    .await
}

/// One paragraph of a conversation's message that ranked.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageHit {
    pub conversation_id: Uuid,
    /// The conversation's title.
    pub title: String,
    /// The posted message's id, or the answer's.
    pub message_id: Uuid,
    pub ord: i32,
    /// `user` or `assistant`.
    pub role: String,
    pub byte_start: i32,
    pub byte_end: i32,
    pub created_at: DateTime<Utc>,
    pub vector_rank: Option<i64>,
    pub text_rank: Option<i64>,
    pub score: f64,
}

/// What to look for in one user's conversations.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    /// Whose conversations (always one user's own).
    pub owner: Uuid,
    pub vector: Option<Vector>,
    /// As [`SearchQuery::words`].
    pub words: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// How many paragraphs each ranking contributes.
    pub candidates: i64,
}

const MESSAGE_FILTERS: &str = "m.owner = $3
    AND ($4::timestamptz IS NULL OR m.created_at >= $4)
    AND ($5::timestamptz IS NULL OR m.created_at < $5)";

fn messages_sql() -> String {
    format!(
        "WITH v AS (
            SELECT message_id, ord, row_number() OVER (ORDER BY d, message_id, ord) AS r FROM (
                SELECT m.message_id, m.ord, m.embedding <=> $1 AS d
                FROM rm_search.messages m
                WHERE $1::vector IS NOT NULL AND {MESSAGE_FILTERS}
                ORDER BY m.embedding <=> $1
                LIMIT $6) x
        ),
        t AS (
            SELECT message_id, ord, row_number() OVER (ORDER BY rank DESC, message_id, ord) AS r
            FROM (
                SELECT m.message_id, m.ord, ts_rank_cd(m.tsv, q) AS rank
                FROM rm_search.messages m, plainto_tsquery('english', $2) q
                WHERE $2::text IS NOT NULL AND m.tsv @@ q AND {MESSAGE_FILTERS}
                ORDER BY rank DESC
                LIMIT $6) y
        )
        SELECT m.conversation_id, c.title, m.message_id, m.ord, m.role, m.byte_start,
               m.byte_end, m.created_at, v.r AS vector_rank, t.r AS text_rank,
               (COALESCE(1.0 / ({RRF_K} + v.r), 0) + COALESCE(1.0 / ({RRF_K} + t.r), 0))::float8
                   AS score
        FROM (SELECT message_id, ord FROM v UNION SELECT message_id, ord FROM t) k
        JOIN rm_search.messages m USING (message_id, ord)
        JOIN rm_search.conversations c ON c.id = m.conversation_id
        LEFT JOIN v USING (message_id, ord)
        LEFT JOIN t USING (message_id, ord)
        ORDER BY score DESC, m.message_id, m.ord"
    )
}

/// The paragraphs of `q.owner`'s conversations that rank, best first.
pub async fn messages(pool: &PgPool, q: &MessageQuery) -> Result<Vec<MessageHit>, sqlx::Error> {
    if q.vector.is_none() && q.words.is_none() {
        return Ok(Vec::new());
    }
    let mut tx = ranking(pool, q.candidates).await?;
    let hits = sqlx::query_as::<_, MessageHit>(&messages_sql())
        .bind(q.vector.clone())
        .bind(q.words.as_deref())
        .bind(q.owner)
        .bind(q.from)
        .bind(q.to)
        .bind(q.candidates)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(hits)
}

/// How `ts_headline` marks and cuts a snippet.
const HEADLINE: &str = "StartSel=\u{E000}, StopSel=\u{E001}, MaxWords=35, MinWords=15, MaxFragments=2, FragmentDelimiter=\" … \"";

/// Snippets of the message paragraphs `(message, ord)`, marked as [`snippets`] marks them, in
/// the order asked.
pub async fn message_snippets(
    pool: &PgPool,
    words: Option<&str>,
    parts: &[(Uuid, i32)],
) -> Result<Vec<String>, sqlx::Error> {
    headlines(pool, "rm_search.messages", "message_id", words, parts).await
}

/// Snippets of the chunks `(item, ord)` with the words of the query `words` marked by [`MARK_START`] and
/// [`MARK_END`], in the order asked.
pub async fn snippets(
    pool: &PgPool,
    words: Option<&str>,
    chunks: &[(Uuid, i32)],
) -> Result<Vec<String>, sqlx::Error> {
    headlines(pool, "rm_search.chunks", "item_id", words, chunks).await
}

/// The marked text of the rows `(key, ord)` of `table` (one of this module's two: its name and
/// key column are constants), in the order of `keys` (empty where a row is gone).
async fn headlines(
    pool: &PgPool,
    table: &str,
    key: &str,
    words: Option<&str>,
    keys: &[(Uuid, i32)],
) -> Result<Vec<String>, sqlx::Error> {
    let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let ords: Vec<i32> = keys.iter().map(|k| k.1).collect();
    let rows: Vec<(Uuid, i32, String)> = sqlx::query_as(&format!(
        "SELECT t.{key}, t.ord,
                CASE WHEN $3::text IS NULL THEN t.text
                ELSE ts_headline('english', t.text, plainto_tsquery('english', $3), '{HEADLINE}')
                END
         FROM unnest($1::uuid[], $2::int[]) AS k ({key}, ord)
         JOIN {table} t USING ({key}, ord)"
    ))
    .bind(&ids)
    .bind(&ords)
    .bind(words)
    .fetch_all(pool)
    .await?;
    Ok(keys
        .iter()
        .map(|k| {
            rows.iter()
                .find(|r| (r.0, r.1) == *k)
                .map(|r| r.2.clone())
                .unwrap_or_default()
        })
        .collect())
}

/// Ranked chunks grouped by item, in the order of each item's best chunk, at most `per_item`
/// chunks each (best first); every group has at least one.
pub fn by_item(hits: Vec<ChunkHit>, per_item: usize) -> Vec<Vec<ChunkHit>> {
    grouped(hits, |h| h.item_id, per_item, usize::MAX)
}

/// Ranked hits grouped by `key`, in the order of each group's best hit, at most `per_group`
/// hits each (best first) and the first `groups` groups; every group has at least one.
pub fn grouped<T>(
    hits: Vec<T>,
    key: impl Fn(&T) -> Uuid,
    per_group: usize,
    groups: usize,
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut index: std::collections::HashMap<Uuid, usize> = std::collections::HashMap::new();
    for hit in hits {
        match index.get(&key(&hit)) {
            Some(&i) if out[i].len() < per_group => out[i].push(hit),
            Some(_) => {}
            None if out.len() < groups => {
                index.insert(key(&hit), out.len());
                out.push(vec![hit]);
            }
            None => {}
        }
    }
    out
}

/// Whether a query has anything to look for: a letter or a digit (punctuation alone has not).
pub fn has_words(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::has_words;

    #[test]
    fn punctuation_alone_has_no_words() {
        assert!(has_words("Cat's on the SOFA!"));
        assert!(has_words("東京"));
        assert!(!has_words("?!... --- <-> :*"));
    }
}
