//! The cluster lease: one active projector per projection across all nodes (guarantee 6).
//!
//! Two mechanisms, because each alone has a gap:
//! - a session-level advisory lock on a dedicated connection. Only one session holds it, and
//!   if the node dies its connection dies and PostgreSQL frees the lock;
//! - an `epoch` fencing token in `projection_checkpoints`, incremented by every new holder. A
//!   holder that lost its lock without noticing (dead lock connection, or a rebuild that fenced
//!   it on purpose) still carries the old epoch, and every batch checks it in its own
//!   transaction, so it cannot commit.

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

use crate::error::ProjectionError;
use crate::names::{ProjectionNames, LEASE_LOCK_CLASS};

/// SQLSTATE `lock_not_available`: raised when `lock_timeout` expires.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Opens a connection outside the pool for a session-level lock. A pooled connection would go
/// back to the pool still holding the lock when dropped; this one closes its socket instead,
/// which frees the lock.
pub(crate) async fn connect(pool: &PgPool, application: &str) -> Result<PgConnection, sqlx::Error> {
    let options = (*pool.connect_options())
        .clone()
        .application_name(application);
    let mut conn = PgConnection::connect_with(&options).await?;
    // A node that dies without closing its socket (power loss, partition) keeps its lock until
    // the server notices; with the OS defaults that takes hours. These make the server drop the
    // session within about 15 s. (Ignored on Unix sockets, where death is seen at once.)
    sqlx::query(
        "SELECT set_config('tcp_keepalives_idle', '5', false), \
                set_config('tcp_keepalives_interval', '2', false), \
                set_config('tcp_keepalives_count', '3', false), \
                set_config('tcp_user_timeout', '15000', false)",
    )
    .execute(&mut conn)
    .await?;
    Ok(conn)
}

/// A projection's lease held from outside its projector: while it is held no node applies the
/// projection's events, so its read model stands still (maintenance; tests of what readers do
/// while a read model lags). Dropping it closes its connection, which frees the lease.
pub struct HeldLease(#[allow(dead_code)] Lease);

/// Takes projection `name`'s lease from whoever holds it (see [`Lease::take_over`]) and holds
/// it until the returned value is dropped.
pub async fn hold_lease(
    pool: &PgPool,
    name: &'static str,
    node_id: &str,
    timeout: Duration,
) -> Result<HeldLease, ProjectionError> {
    let names = crate::names::ProjectionNames::new(name)?;
    Lease::take_over(pool, &names, node_id, Duration::from_millis(200), timeout)
        .await
        .map(HeldLease)
}

/// Result of one attempt to take the lease.
pub(crate) enum Acquired {
    Held(Lease),
    /// Another session holds it; the connection is handed back for the next attempt.
    Busy(PgConnection),
}

/// Why a held lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaseLoss {
    /// A newer holder (or a rebuild asking for a handover) incremented the epoch.
    Fenced,
    /// The lock connection failed; the lock may already be someone else's.
    ConnectionLost,
}

/// A held lease: the lock connection and the epoch that this holder writes with.
pub(crate) struct Lease {
    conn: PgConnection,
    projection: &'static str,
    lock_key: i32,
    epoch: u64,
    position: u64,
    version: i32,
}

impl Lease {
    /// Takes the lease if it is free, and fences every earlier holder by incrementing the epoch.
    pub async fn try_acquire(
        mut conn: PgConnection,
        names: &ProjectionNames,
        node_id: &str,
    ) -> Result<Acquired, ProjectionError> {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LEASE_LOCK_CLASS)
            .bind(names.lock_key)
            .fetch_one(&mut conn)
            .await
            .map_err(ProjectionError::runtime(names.name, "try lease lock"))?;
        if !got {
            return Ok(Acquired::Busy(conn));
        }
        Self::claim(conn, names, node_id).await.map(Acquired::Held)
    }

    /// Waits for the lease, fencing the current holder so it lets go: how a rebuild takes over
    /// from a live projector. `lock_wait` bounds each wait; between waits the holder is fenced
    /// again (in case it re-took the lock in between).
    pub async fn take_over(
        pool: &PgPool,
        names: &ProjectionNames,
        node_id: &str,
        lock_wait: Duration,
        timeout: Duration,
    ) -> Result<Lease, ProjectionError> {
        let err = |context| ProjectionError::runtime(names.name, context);
        let mut conn = connect(pool, "tessera-projection-rebuild-lease")
            .await
            .map_err(err("connect for lease"))?;
        // Blocking `pg_advisory_lock` queues this session behind the holder: PostgreSQL grants
        // a released lock to the waiter, and refuses `pg_try_advisory_lock` calls while one
        // waits, so the live projector cannot take it back first.
        sqlx::query("SELECT set_config('lock_timeout', $1, false)")
            .bind(format!("{}ms", lock_wait.as_millis().max(1)))
            .execute(&mut conn)
            .await
            .map_err(err("set lock_timeout"))?;
        let started = tokio::time::Instant::now();
        loop {
            match Self::fence_and_wait(&mut conn, names).await {
                Ok(()) => break,
                Err(e) if is_lock_timeout(&e) => {
                    if started.elapsed() >= timeout {
                        return Err(ProjectionError::HandoverTimeout {
                            projection: names.name,
                            waited: started.elapsed(),
                        });
                    }
                    tracing::debug!(
                        projection = names.name,
                        "live projector still holds the lease; fencing again"
                    );
                }
                Err(e) => return Err(err("wait for lease lock")(e)),
            }
        }
        sqlx::query("SELECT set_config('lock_timeout', '0', false)")
            .execute(&mut conn)
            .await
            .map_err(err("reset lock_timeout"))?;
        Self::claim(conn, names, node_id).await
    }

    async fn fence_and_wait(
        conn: &mut PgConnection,
        names: &ProjectionNames,
    ) -> Result<(), sqlx::Error> {
        // The holder notices at its next batch or heartbeat, gives up the lock, and the lock
        // passes to this queued session.
        sqlx::query("UPDATE projection_checkpoints SET epoch = epoch + 1 WHERE name = $1")
            .bind(names.name)
            .execute(&mut *conn)
            .await?;
        sqlx::query("SELECT pg_advisory_lock($1, $2)")
            .bind(LEASE_LOCK_CLASS)
            .bind(names.lock_key)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// With the lock held: a new epoch, which fences whoever wrote before.
    async fn claim(
        mut conn: PgConnection,
        names: &ProjectionNames,
        node_id: &str,
    ) -> Result<Lease, ProjectionError> {
        let row: Option<(i64, i64, i32)> = sqlx::query_as(
            "UPDATE projection_checkpoints \
             SET epoch = epoch + 1, owner_node = $2, updated_at = now() \
             WHERE name = $1 RETURNING epoch, position, version",
        )
        .bind(names.name)
        .bind(node_id)
        .fetch_optional(&mut conn)
        .await
        .map_err(ProjectionError::runtime(names.name, "claim lease epoch"))?;
        let Some((epoch, position, version)) = row else {
            // Closing the connection frees the lock.
            let _ = conn.close().await;
            return Err(ProjectionError::Checkpoint {
                projection: names.name,
                detail: "no checkpoint row to claim".into(),
            });
        };
        Ok(Lease {
            conn,
            projection: names.name,
            lock_key: names.lock_key,
            epoch: to_u64(epoch),
            position: to_u64(position),
            version,
        })
    }

    /// The fencing token every write of this holder must carry.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The checkpoint position when the lease was taken.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The read-model version recorded when the lease was taken.
    pub fn version(&self) -> i32 {
        self.version
    }

    /// Checks that the lock connection is alive and nobody fenced this holder.
    pub async fn check(&mut self) -> Option<LeaseLoss> {
        let current: Result<Option<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT epoch FROM projection_checkpoints WHERE name = $1")
                .bind(self.projection)
                .fetch_optional(&mut self.conn)
                .await;
        match current {
            Ok(Some(e)) if to_u64(e) == self.epoch => None,
            Ok(_) => Some(LeaseLoss::Fenced),
            Err(error) => {
                tracing::warn!(projection = self.projection, %error, "lease connection check failed");
                Some(LeaseLoss::ConnectionLost)
            }
        }
    }

    /// Gives the lock up. Returns the connection for the next attempt when it is still sound.
    pub async fn release(mut self) -> Option<PgConnection> {
        let unlocked: Result<bool, sqlx::Error> =
            sqlx::query_scalar("SELECT pg_advisory_unlock($1, $2)")
                .bind(LEASE_LOCK_CLASS)
                .bind(self.lock_key)
                .fetch_one(&mut self.conn)
                .await;
        match unlocked {
            Ok(true) => Some(self.conn),
            Ok(false) | Err(_) => {
                // Not sure what this session holds: closing it is the only certain release.
                let _ = self.conn.close().await;
                None
            }
        }
    }

    /// Gives the lock up by closing the connection.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

fn is_lock_timeout(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE))
}

/// Positions and epochs are non-negative bigints in the database.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
