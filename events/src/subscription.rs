//! Catch-up subscriptions: read the log from a position, then wake on LISTEN/NOTIFY.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;

use crate::error::StoreError;
use crate::event::RecordedEvent;
use crate::store::EventStore;
use crate::NOTIFY_CHANNEL;

/// One LISTEN connection per process; subscribers watch the highest position announced.
#[derive(Clone)]
pub struct EventNotifier {
    rx: watch::Receiver<u64>,
    tx: Arc<watch::Sender<u64>>,
    _task: Arc<AbortOnDrop>,
}

/// Wakes a notifier's subscribers from this process (an append that just committed here).
#[derive(Clone)]
pub struct LocalWake(Arc<watch::Sender<u64>>);

impl LocalWake {
    /// Announces `position` as committed.
    pub fn wake(&self, position: u64) {
        self.0
            .send_modify(|cur| *cur = (*cur).max(position).max(cur.wrapping_add(1)));
    }
}

/// Stops the listener task when the last notifier clone goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EventNotifier {
    /// Starts listening on the event channel. Reconnects by itself; after a reconnect it
    /// announces a wake-up so subscribers look again (a notification may have been missed).
    pub async fn start(pool: &PgPool) -> Result<Self, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let (tx, rx) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let listened = tx.clone();
        let task = tokio::spawn(async move {
            let tx = listened;
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        let pos = n.payload().parse::<u64>().unwrap_or(0);
                        tx.send_modify(|cur| *cur = (*cur).max(pos).max(cur.wrapping_add(1)));
                    }
                    Ok(None) => {
                        // The connection dropped and was re-established by the listener.
                        tracing::warn!("event notification connection lost; reconnected");
                        tx.send_modify(|cur| *cur = cur.wrapping_add(1));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event notification listener failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        tx.send_modify(|cur| *cur = cur.wrapping_add(1));
                    }
                }
            }
        });
        Ok(Self {
            rx,
            tx,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    pub fn receiver(&self) -> watch::Receiver<u64> {
        self.rx.clone()
    }

    /// A handle that wakes this notifier's subscribers directly (see
    /// `PgEventStore::wake_locally`).
    pub fn local_wake(&self) -> LocalWake {
        LocalWake(self.tx.clone())
    }
}

/// A catch-up subscription to the whole log from a position. Delivers every event exactly
/// once, in position order, with no skips.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    wake: Option<watch::Receiver<u64>>,
    position: u64,
    poll: Duration,
}

impl Subscription {
    pub fn new(store: Arc<dyn EventStore>, notifier: Option<&EventNotifier>, after: u64) -> Self {
        Self {
            store,
            wake: notifier.map(EventNotifier::receiver),
            position: after,
            poll: Duration::from_millis(250),
        }
    }

    /// How often to look without a notification (also the fallback when notifications are lost).
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The position of the last event delivered.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next batch (at most `limit` events), waiting until there is one.
    pub async fn next_batch(&mut self, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        loop {
            if let Some(w) = self.wake.as_mut() {
                // Mark the current announcement seen before reading, so one that arrives
                // during the read wakes the next wait.
                w.borrow_and_update();
            }
            let batch = self.store.read_all(self.position, limit).await?;
            if let Some(last) = batch.last() {
                self.position = last.global_position;
                return Ok(batch);
            }
            match self.wake.as_mut() {
                Some(w) => {
                    let _ = tokio::time::timeout(self.poll, w.changed()).await;
                }
                None => tokio::time::sleep(self.poll).await,
            }
        }
    }
}
