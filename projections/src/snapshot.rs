//! A schema's contents as canonical JSON text, so two schemas can be compared (rebuild tests,
//! and checking that a rebuild reproduces the live tables).

use sqlx::PgPool;

use crate::error::ProjectionError;
use crate::names::quote_ident;

/// Every table of `schema` with its rows in a total order, as pretty JSON:
/// `{"<table>": [<row>, ...], ...}`. Read in one snapshot, so a projector writing meanwhile
/// cannot tear it.
pub async fn snapshot_schema(pool: &PgPool, schema: &str) -> Result<String, ProjectionError> {
    let err = |context| {
        move |source| ProjectionError::Runtime {
            projection: "*",
            context,
            source,
        }
    };
    let mut tx = pool.begin().await.map_err(err("begin snapshot"))?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(err("set snapshot isolation"))?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname",
    )
    .bind(schema)
    .fetch_all(&mut *tx)
    .await
    .map_err(err("list tables"))?;
    let mut out = serde_json::Map::new();
    for table in tables {
        // Ordering by the row's text form orders by every column, for any column type
        // (json has no ordering operator, so `ORDER BY t` would not always work).
        let sql = format!(
            "SELECT coalesce(json_agg(t ORDER BY t::text COLLATE \"C\"), '[]'::json)::text \
             FROM {}.{} t",
            quote_ident(schema),
            quote_ident(&table)
        );
        let rows: String = sqlx::query_scalar(&sql)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("dump table"))?;
        let rows: serde_json::Value = serde_json::from_str(&rows)
            .map_err(|e| ProjectionError::Decode(format!("table {table} as JSON: {e}")))?;
        out.insert(table, rows);
    }
    tx.commit().await.map_err(err("end snapshot"))?;
    serde_json::to_string_pretty(&out)
        .map_err(|e| ProjectionError::Decode(format!("snapshot of {schema}: {e}")))
}
