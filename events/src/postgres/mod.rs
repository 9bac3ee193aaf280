//! The event store on PostgreSQL.
//!
//! Positions come from a sequence, and concurrent transactions can commit out of sequence order.
//! Two rules keep readers from skipping events (guarantee 4):
//! - an append takes its transaction id (`pg_current_xact_id()`) before it draws positions, so any
//!   transaction that holds an uncommitted position is visible in every later snapshot's in-progress
//!   range;
//! - `read_all` only returns a contiguous run of positions. At a hole it waits until every
//!   transaction that was running when the hole was seen has ended; a hole that is still there is a
//!   rolled-back append and can be passed. A transaction that draws a position has its id already,
//!   so it is either in that snapshot's in-progress list or committed before it.
//!
//! An append to one stream is one autocommit statement (check and insert together); appends to
//! several streams share a transaction of two statements (every check, then one insert), with
//! a statement per stream where a replay or a lost race needs deciding stream by stream. Subscribers are woken by a NOTIFY sent after the commit,
//! not inside it: a notifying commit holds PostgreSQL's notify lock until it is flushed, which
//! would serialise every append's commit.

mod append;
mod find;
mod notify;
mod read;
mod rows;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use sqlx::postgres::PgPool;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::event::{RecordedEvent, StreamId};
use crate::ids::UserId;
use crate::store::{AppendRequest, AppendResult, EventStore};
use crate::upcast::Upcasters;
use rows::{EventRow, COLUMNS};

pub use append::MAX_EVENTS_PER_APPEND;

/// The PostgreSQL event store. Cheap to clone.
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    upcasters: Arc<Upcasters>,
    announcer: Arc<OnceLock<watch::Sender<u64>>>,
    /// This process's subscribers, woken at once after a commit; the NOTIFY is for the others.
    local: Arc<OnceLock<crate::subscription::LocalWake>>,
}

impl PgEventStore {
    /// A store on `pool` whose events need no upcasting.
    pub fn new(pool: PgPool) -> Self {
        Self::with_upcasters(pool, Upcasters::default())
    }

    /// A store on `pool` that reads old events through `upcasters`.
    pub fn with_upcasters(pool: PgPool, upcasters: Upcasters) -> Self {
        Self {
            pool,
            upcasters: Arc::new(upcasters),
            announcer: Arc::new(OnceLock::new()),
            local: Arc::new(OnceLock::new()),
        }
    }

    /// The connection pool underneath.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn append_many(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        self.append_requests(requests).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 \
             ORDER BY stream_version LIMIT $3"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(stream.as_str())
            .bind(after_version as i64)
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(|r| self.to_recorded(r)).collect()
    }

    async fn read_last(&self, stream: &StreamId) -> Result<Option<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1 \
             ORDER BY stream_version DESC LIMIT 1"
        );
        let row: Option<EventRow> = sqlx::query_as(&sql)
            .bind(stream.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| self.to_recorded(r)).transpose()
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_in_order(after, limit).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT max(global_position) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0) as u64)
    }

    async fn read_owned(
        &self,
        owner: UserId,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if up_to <= after {
            return Ok(Vec::new());
        }
        // Matches the expression index `events_owner_position`.
        let sql = format!(
            "SELECT {COLUMNS} FROM events \
             WHERE (metadata->>'owner') = $1 AND global_position > $2 AND global_position <= $3 \
             ORDER BY global_position LIMIT $4"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(owner.to_string())
            .bind(after.min(i64::MAX as u64) as i64)
            .bind(up_to.min(i64::MAX as u64) as i64)
            .bind(limit.clamp(1, 100_000) as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(|r| self.to_recorded(r)).collect()
    }
}
