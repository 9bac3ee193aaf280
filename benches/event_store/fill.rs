//! Filling the event log directly in the store's layout, for the benchmarks that read it.

use std::time::Instant;

use anyhow::{ensure, Result};
use sqlx::{Executor, PgPool};

use crate::measure::checkpoint;

/// Fills the event log with `total` events in the store's layout: `select` yields the rows
/// `$1..=$2` (and takes `extra` as `$3` when given), run once per 100,000. Positions are
/// contiguous from 1 (one writer, nothing rolls back).
pub(crate) async fn fill_log(
    pool: &PgPool,
    total: u64,
    select: &str,
    extra: Option<i64>,
) -> Result<()> {
    const CHUNK: u64 = 100_000;
    let sql = format!(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, \
         payload, metadata) {select}"
    );
    let started = Instant::now();
    let mut from = 0u64;
    while from < total {
        let to = (from + CHUNK).min(total);
        let mut query = sqlx::query(&sql).bind(from as i64).bind(to as i64 - 1);
        if let Some(extra) = extra {
            query = query.bind(extra);
        }
        query.execute(pool).await?;
        from = to;
    }
    pool.execute("VACUUM (ANALYZE) events").await?;
    checkpoint(pool).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    ensure!(
        count as u64 == total,
        "log holds {count} events, not {total}"
    );
    println!(
        "  wrote {total} events in {:.1} s (generate_series, VACUUM ANALYZE, CHECKPOINT)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
