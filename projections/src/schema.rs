//! Read-model schemas and the checkpoint row that describes them.

use sqlx::{PgConnection, PgPool};

use crate::error::ProjectionError;
use crate::names::{quote_ident, ProjectionNames, SETUP_LOCK_CLASS};
use crate::projection::Projection;

/// What `ensure` found (or made) for a projection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    /// The version the live schema was built with.
    pub version: i32,
    /// False when the checkpoint exists but someone dropped the schema: it must be rebuilt.
    pub live_schema_exists: bool,
}

/// Points unqualified names at `schema` until the end of the current transaction.
pub(crate) async fn set_local_search_path(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<(), sqlx::Error> {
    // `public` stays on the path so projections can use extensions installed there (pgvector).
    sqlx::query("SELECT set_config('search_path', $1, true)")
        .bind(format!("{}, public", quote_ident(schema)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates `schema` and the projection's tables in it, inside the caller's transaction.
pub(crate) async fn create_schema(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    schema: &str,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    sqlx::query(&format!("CREATE SCHEMA {}", quote_ident(schema)))
        .execute(&mut *conn)
        .await
        .map_err(ProjectionError::runtime(name, "create schema"))?;
    set_local_search_path(conn, schema)
        .await
        .map_err(ProjectionError::runtime(name, "set search_path"))?;
    // Several statements: a bare `&str` goes through the simple query protocol, which runs
    // them all. (`sqlx::raw_sql` would too, but its future cannot be proven `Send` in here.)
    sqlx::Executor::execute(&mut *conn, projection.setup_sql())
        .await
        .map_err(ProjectionError::runtime(name, "run setup_sql"))?;
    Ok(())
}

/// Makes sure the projection has a checkpoint row and a live schema; creates both on first start.
pub(crate) async fn ensure(
    pool: &PgPool,
    projection: &dyn Projection,
    names: &ProjectionNames,
) -> Result<Prepared, ProjectionError> {
    let err = |context| ProjectionError::runtime(names.name, context);
    let mut tx = pool.begin().await.map_err(err("begin setup"))?;
    // Nodes starting together would race on CREATE SCHEMA; this serialises them.
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(SETUP_LOCK_CLASS)
        .bind(names.lock_key)
        .execute(&mut *tx)
        .await
        .map_err(err("take setup lock"))?;
    let version: Option<i32> =
        sqlx::query_scalar("SELECT version FROM projection_checkpoints WHERE name = $1")
            .bind(names.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("read checkpoint"))?;
    let live_schema_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(&names.live)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("look up schema"))?;

    if let Some(version) = version {
        tx.commit().await.map_err(err("commit setup"))?;
        return Ok(Prepared {
            version,
            live_schema_exists,
        });
    }

    if live_schema_exists {
        // Tables without a checkpoint cannot say which events they hold; starting them at
        // position 0 would count events twice.
        tracing::warn!(
            projection = names.name,
            schema = %names.live,
            "schema exists without a checkpoint; dropping it and starting from scratch"
        );
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", quote_ident(&names.live)))
            .execute(&mut *tx)
            .await
            .map_err(err("drop orphaned schema"))?;
    }
    // The checkpoint goes first: `create_schema` moves `search_path` away from the runtime's
    // tables for the rest of the transaction.
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, position, epoch, version, schema_name) \
         VALUES ($1, 0, 0, $2, $3)",
    )
    .bind(names.name)
    .bind(projection.version())
    .bind(&names.live)
    .execute(&mut *tx)
    .await
    .map_err(err("create checkpoint"))?;
    create_schema(&mut tx, projection, &names.live).await?;
    tx.commit().await.map_err(err("commit setup"))?;
    tracing::info!(
        projection = names.name,
        schema = %names.live,
        version = projection.version(),
        "created read-model schema"
    );
    Ok(Prepared {
        version: projection.version(),
        live_schema_exists: true,
    })
}
