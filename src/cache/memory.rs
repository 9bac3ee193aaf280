//! The hot cache in process: entries by projection and key, checked against the local epochs.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use dashmap::DashMap;

use super::ProjectionEpochs;

/// Entries the in-process hot cache holds at most.
const HOT_CAPACITY: usize = 10_000;

/// A cached value with the epoch it was read at.
type Stamped = (u64, Arc<dyn Any + Send + Sync>);

/// Entries by projection and key, each valid while its projection's epoch is unchanged.
pub struct MemoryHotCache {
    epochs: Arc<ProjectionEpochs>,
    entries: DashMap<(&'static str, String), Stamped>,
    capacity: usize,
}

impl MemoryHotCache {
    pub(super) fn new(epochs: Arc<ProjectionEpochs>) -> Self {
        Self {
            epochs,
            entries: DashMap::new(),
            capacity: HOT_CAPACITY,
        }
    }

    /// Drops what is cached for `projection`.
    pub(super) fn invalidate(&self, projection: &str) {
        self.epochs.bump(projection);
    }

    pub(super) async fn get_or_load<V, E, F, Fut>(
        &self,
        projection: &'static str,
        key: &str,
        load: F,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if !self.epochs.follows(projection) {
            return load().await;
        }
        // Taken before the query: if the projection moves meanwhile, the entry is born stale.
        let token = self.epochs.epoch(&[projection]);
        let id = (projection, key.to_owned());
        let hit = self
            .entries
            .get(&id)
            .filter(|e| e.0 == token)
            .and_then(|e| e.1.downcast_ref::<V>().cloned());
        if let Some(v) = hit {
            return Ok(v);
        }
        let value = load().await?;
        if self.entries.len() >= self.capacity {
            // Crude but bounded: hot keys come back on the next read.
            self.entries.clear();
        }
        self.entries.insert(id, (token, Arc::new(value.clone())));
        Ok(value)
    }
}
