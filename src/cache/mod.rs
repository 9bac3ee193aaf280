//! Read-through caches of hot read-model queries. An entry stays valid until a projection it
//! depends on commits again (announced on `PROJECTED_CHANNEL` by whichever node runs it), so a
//! cached read is never older than the read model plus the notification's latency.
//!
//! [`HotCache`] is what handlers use: in process, or in Redis when one is configured. The older
//! [`ReadThrough`] is a typed, in-process map for callers that hold their own cache.
//!
//! The listeners that keep the caches fresh ([`EpochListener`], [`RedisWatcher`]) are hosted by
//! the node's supervisor, which restarts them when they fail; made without one (tools, tests),
//! each cache runs its own in a task it owns.

mod epochs;
mod memory;
mod read_through;
mod redis;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use epochs::{EpochListener, ProjectionEpochs};
pub use memory::MemoryHotCache;
pub use read_through::ReadThrough;
// `self::`, as the module shares its name with the Redis client crate.
pub use self::redis::{RedisHotCache, RedisWatcher};

use crate::redis_conn::RedisConn;

/// The read-through cache of hot read-model queries that handlers use: in process, or in Redis
/// (shared by every node) when one is configured. Each entry depends on one projection and is
/// dropped when that projection commits again.
///
/// ```ignore
/// let page = state.cache
///     .get_or_load("content", &format!("list:{user}:{cursor}"), || load_page(&pool, user, cursor))
///     .await?;
/// ```
#[derive(Clone)]
pub enum HotCache {
    Memory(Arc<MemoryHotCache>),
    Redis(Arc<RedisHotCache>),
}

impl HotCache {
    /// In process, invalidated by `epochs`.
    pub fn memory(epochs: Arc<ProjectionEpochs>) -> Self {
        Self::Memory(Arc::new(MemoryHotCache::new(epochs)))
    }

    /// In Redis, entries living at most `ttl`. Every bump of `epochs` moves the projection's
    /// generation in Redis, which invalidates it for every node. Runs its [`RedisWatcher`] in a
    /// task of its own, so it must be called within a Tokio runtime.
    pub fn redis(conn: RedisConn, epochs: Arc<ProjectionEpochs>, ttl: Duration) -> Self {
        Self::Redis(RedisHotCache::start(conn, epochs, ttl))
    }

    /// Redis when one is configured (with the watcher to host under a supervisor), else in
    /// process.
    pub fn from_connection(
        conn: Option<RedisConn>,
        epochs: Arc<ProjectionEpochs>,
        ttl: Duration,
    ) -> (Self, Option<RedisWatcher>) {
        match conn {
            Some(conn) => {
                let (cache, watcher) = RedisHotCache::new(conn, epochs, ttl);
                (Self::Redis(cache), Some(watcher))
            }
            None => (Self::memory(epochs), None),
        }
    }

    /// The cached result of the query `key` on `projection`, or `load`'s (then cached). Errors
    /// of `load` are returned and not cached; a cache that does not answer is skipped, never an
    /// error. `projection` must be one the epochs follow, else nothing is cached.
    pub async fn get_or_load<V, E, F, Fut>(
        &self,
        projection: &'static str,
        key: &str,
        load: F,
    ) -> Result<V, E>
    where
        V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        match self {
            Self::Memory(m) => m.get_or_load(projection, key, load).await,
            Self::Redis(r) => r.get_or_load(projection, key, load).await,
        }
    }

    /// Drops what is cached for `projection` now (on every node with Redis), without waiting for
    /// its announcement.
    pub async fn invalidate(&self, projection: &str) {
        match self {
            Self::Memory(m) => m.invalidate(projection),
            Self::Redis(r) => r.invalidate(projection).await,
        }
    }
}
