//! Waking subscribers after a commit: this process's at once, the others' by a NOTIFY sent
//! outside the append's transaction.

use std::time::Duration;

use tokio::sync::watch;

use super::PgEventStore;
use crate::NOTIFY_CHANNEL;

/// The shortest time between two announcements of appended events.
const ANNOUNCE_INTERVAL: Duration = Duration::from_millis(5);

impl PgEventStore {
    /// Wakes `notifier`'s subscribers (this process's) as soon as an append commits, without
    /// waiting for the NOTIFY to go round PostgreSQL. Applies to every clone of this store.
    pub fn wake_locally(&self, notifier: &crate::EventNotifier) {
        let _ = self.local.set(notifier.local_wake());
    }

    /// Announces a committed position on `NOTIFY_CHANNEL`, outside the append's transaction.
    ///
    /// A NOTIFY inside the append would make its commit take PostgreSQL's notify-queue lock,
    /// which is held until the commit record is flushed: every notifying commit of the cluster
    /// would wait for the previous one's flush. Instead one task per store coalesces the
    /// positions and sends at most one NOTIFY at a time. A notification lost in a crash right
    /// after a commit is covered by the subscribers' poll interval.
    pub(super) fn announce(&self, position: u64) {
        if let Some(local) = self.local.get() {
            local.wake(position);
        }
        let tx = self.announcer.get_or_init(|| {
            let (tx, mut rx) = watch::channel(0u64);
            let pool = self.pool.clone();
            // Ends when the last clone of this store (and with it the sender) is dropped.
            tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    let position = *rx.borrow_and_update();
                    if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(NOTIFY_CHANNEL)
                        .bind(position.to_string())
                        .execute(&pool)
                        .await
                    {
                        tracing::warn!(error = %e, position, "could not announce appended events");
                    }
                    // A NOTIFY is a transaction with its own commit flush: under load, announce
                    // the newest position at most once per interval rather than once per append.
                    tokio::time::sleep(ANNOUNCE_INTERVAL).await;
                }
            });
            tx
        });
        tx.send_if_modified(|cur| {
            let newer = position > *cur;
            if newer {
                *cur = position;
            }
            newer
        });
    }
}
