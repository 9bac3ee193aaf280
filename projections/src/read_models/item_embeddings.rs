//! Retrieval reads on read model `content`: the embeddings a user's analysed items carry in
//! their analysis, for answers that look through the user's library.

use sqlx::types::Json;
use sqlx::PgPool;
use tessera_events::content::analysis::Embeddings;
use uuid::Uuid;

/// The `analysis.embeddings` of `owner`'s live, analysed items that have any, newest first, at
/// most `limit` of them: `(item id, the embedded chunks as stored)`.
pub async fn recent(
    pool: &PgPool,
    owner: Uuid,
    limit: i64,
) -> Result<Vec<(Uuid, Embeddings)>, sqlx::Error> {
    let rows: Vec<(Uuid, Json<Embeddings>)> = sqlx::query_as(
        "SELECT id, analysis->'embeddings' FROM rm_content.items
         WHERE owner = $1 AND deleted_at IS NULL AND analysis_state = 'ready'
           AND jsonb_typeof(analysis->'embeddings') = 'array'
         ORDER BY created_at DESC LIMIT $2",
    )
    .bind(owner)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id, Json(e))| (id, e)).collect())
}
