//! Read-through caches of hot read-model queries. An entry stays valid until a projection it
//! depends on commits again (announced on `PROJECTED_CHANNEL` by whichever node runs it), so a
//! cached read is never older than the read model plus the notification's latency.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use sqlx::postgres::{PgListener, PgPool};
use tessera_projections::PROJECTED_CHANNEL;

/// Per-projection change counters, bumped by every announced batch; all of them at once after a
/// lost listener connection (announcements may have been missed).
pub struct ProjectionEpochs {
    counters: HashMap<&'static str, AtomicU64>,
    everything: AtomicU64,
    listener: OnceLock<AbortOnDrop>,
}

/// Stops the listener when the counters go away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ProjectionEpochs {
    /// Starts listening for the named projections' announcements.
    pub async fn start(pool: &PgPool, names: &[&'static str]) -> Result<Arc<Self>, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(PROJECTED_CHANNEL).await?;
        let epochs = Arc::new(Self::detached(names));
        let weak = Arc::downgrade(&epochs);
        let task = tokio::spawn(async move {
            loop {
                let received = listener.try_recv().await;
                let Some(epochs) = weak.upgrade() else { return };
                match received {
                    Ok(Some(n)) => epochs.bump(n.payload()),
                    Ok(None) => epochs.bump_all(),
                    Err(e) => {
                        tracing::warn!(error = %e, "projection announcements lost; retrying");
                        epochs.bump_all();
                        drop(epochs);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        // The task holds only a weak reference, so dropping the counters stops it.
        let _ = epochs.listener.set(AbortOnDrop(task));
        Ok(epochs)
    }

    /// Counters with no listener (tests bump them by hand).
    pub fn detached(names: &[&'static str]) -> Self {
        Self {
            counters: names.iter().map(|n| (*n, AtomicU64::new(0))).collect(),
            everything: AtomicU64::new(0),
            listener: OnceLock::new(),
        }
    }

    /// A projection committed: reads depending on it are stale.
    pub fn bump(&self, name: &str) {
        if let Some(c) = self.counters.get(name) {
            c.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn bump_all(&self) {
        self.everything.fetch_add(1, Ordering::AcqRel);
    }

    /// A value that changes whenever any of `names` (or everything) was bumped.
    fn epoch(&self, names: &[&'static str]) -> u64 {
        names
            .iter()
            .filter_map(|n| self.counters.get(n))
            .fold(self.everything.load(Ordering::Acquire), |sum, c| {
                sum.wrapping_add(c.load(Ordering::Acquire))
            })
    }
}

/// A bounded map of query results, each valid while its projections have not moved.
pub struct ReadThrough<K, V> {
    depends_on: &'static [&'static str],
    epochs: Arc<ProjectionEpochs>,
    entries: DashMap<K, (u64, V)>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> ReadThrough<K, V> {
    pub fn new(
        epochs: Arc<ProjectionEpochs>,
        depends_on: &'static [&'static str],
        capacity: usize,
    ) -> Self {
        Self {
            depends_on,
            epochs,
            entries: DashMap::new(),
            capacity,
        }
    }

    /// Take this before running the query; pass it to [`ReadThrough::put`].
    pub fn token(&self) -> u64 {
        self.epochs.epoch(self.depends_on)
    }

    /// A cached, still valid result.
    pub fn get(&self, key: &K) -> Option<V> {
        let current = self.token();
        self.entries
            .get(key)
            .filter(|e| e.0 == current)
            .map(|e| e.1.clone())
    }

    /// Caches a result read after `token` was taken; if a projection moved meanwhile the entry
    /// is born stale and never served.
    pub fn put(&self, key: K, token: u64, value: V) {
        if self.entries.len() >= self.capacity {
            // Crude but bounded: hot keys come back on the next read.
            self.entries.clear();
        }
        self.entries.insert(key, (token, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_when_their_projections_move() {
        let epochs = Arc::new(ProjectionEpochs::detached(&["users", "quotas", "other"]));
        let cache: ReadThrough<u32, &str> =
            ReadThrough::new(epochs.clone(), &["users", "quotas"], 8);
        let t = cache.token();
        cache.put(1, t, "one");
        assert_eq!(cache.get(&1), Some("one"));
        epochs.bump("other");
        assert_eq!(
            cache.get(&1),
            Some("one"),
            "unrelated projections do not matter"
        );
        epochs.bump("quotas");
        assert_eq!(cache.get(&1), None);

        // A result read while a projection moved is never served.
        let t = cache.token();
        epochs.bump("users");
        cache.put(2, t, "two");
        assert_eq!(cache.get(&2), None);
        let t = cache.token();
        cache.put(2, t, "two");
        assert_eq!(cache.get(&2), Some("two"));
        epochs.bump_all();
        assert_eq!(cache.get(&2), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let epochs = Arc::new(ProjectionEpochs::detached(&["users"]));
        let cache: ReadThrough<u32, u32> = ReadThrough::new(epochs, &["users"], 4);
        for i in 0..10 {
            let t = cache.token();
            cache.put(i, t, i);
        }
        assert!(cache.entries.len() <= 4);
        assert_eq!(cache.get(&9), Some(9));
    }
}
