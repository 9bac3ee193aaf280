//! Reading the log in global order without skipping an append that has not committed yet: only
//! a contiguous run of positions is returned, and a hole is waited on (see the module comment).

use std::time::Duration;

use super::rows::{EventRow, SnapshotRow, COLUMNS};
use super::PgEventStore;
use crate::error::StoreError;
use crate::event::RecordedEvent;

/// How long `read_all` waits for in-flight appends below a hole before returning what it has.
const HOLE_WAIT: Duration = Duration::from_millis(200);

impl PgEventStore {
    /// Events after `after` in global order, stopping at a hole that may still fill.
    pub(super) async fn read_in_order(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.clamp(1, 100_000);
        let (snapshot, rows) = self.read_after(after, limit).await?;
        let run = contiguous_run(after, &rows);
        if run > 0 || rows.is_empty() {
            return rows
                .into_iter()
                .take(run)
                .map(|r| self.to_recorded(r))
                .collect();
        }
        // A hole right after `after`: its transaction may still commit. Wait for every
        // transaction that was running when we looked to end, then what is visible below the
        // first event we saw is final.
        let first_seen = rows[0].global_position;
        if !self.wait_for_snapshot_transactions(&snapshot).await? {
            return Ok(Vec::new());
        }
        let (_, rows) = self.read_after(after, limit).await?;
        let settled = rows
            .iter()
            .take_while(|r| r.global_position <= first_seen)
            .count();
        let rest = match rows.get(settled.saturating_sub(1)) {
            Some(last) => contiguous_run(last.global_position as u64, &rows[settled..]),
            None => 0,
        };
        rows.into_iter()
            .take(settled + rest)
            .map(|r| self.to_recorded(r))
            .collect()
    }

    async fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(String, Vec<EventRow>), StoreError> {
        // One statement, so the snapshot and the rows agree.
        let sql = format!(
            "SELECT s.snap, e.* FROM (SELECT pg_current_snapshot()::text AS snap) s \
             LEFT JOIN LATERAL \
               (SELECT {COLUMNS} FROM events WHERE global_position > $1 \
                ORDER BY global_position LIMIT $2) e ON true"
        );
        let rows: Vec<SnapshotRow> = sqlx::query_as(&sql)
            .bind(after as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let snap = rows.first().map(|r| r.snap.clone()).unwrap_or_default();
        Ok((
            snap,
            rows.into_iter()
                .filter_map(SnapshotRow::into_event)
                .collect(),
        ))
    }

    /// Waits until every transaction of this database that was running in `snapshot` has ended;
    /// false on timeout. Transactions seen running in other databases of the cluster cannot have
    /// appended here and are not waited for.
    async fn wait_for_snapshot_transactions(&self, snapshot: &str) -> Result<bool, StoreError> {
        let deadline = tokio::time::Instant::now() + HOLE_WAIT;
        let mut pause = Duration::from_micros(500);
        loop {
            let running: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_snapshot_xip($1::pg_snapshot) AS x \
                 WHERE pg_xact_status(x) = 'in progress' \
                   AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a \
                       WHERE a.backend_xid IS NOT NULL \
                         AND a.backend_xid::text::bigint = x::text::bigint % 4294967296 \
                         AND a.datname IS DISTINCT FROM current_database())",
            )
            .bind(snapshot)
            .fetch_one(&self.pool)
            .await?;
            if running == 0 {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// How many rows, from the start, follow `after` with no hole.
fn contiguous_run(after: u64, rows: &[EventRow]) -> usize {
    rows.iter()
        .zip(after as i64 + 1..)
        .take_while(|(r, expected)| r.global_position == *expected)
        .count()
}
