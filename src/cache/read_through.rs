//! A typed, in-process read-through map for callers that hold their own cache.

use std::hash::Hash;
use std::sync::Arc;

use dashmap::DashMap;

use super::ProjectionEpochs;

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
