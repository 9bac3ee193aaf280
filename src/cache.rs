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

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::postgres::{PgListener, PgPool};
use tessera_actors::{stop_requested, HostedJob, JobResult};
use tessera_projections::PROJECTED_CHANNEL;
use tokio::sync::watch;

use crate::redis_conn::{RedisConn, RedisUnavailable};

/// Per-projection change counters, bumped by every announced batch; all of them at once after a
/// lost listener connection (announcements may have been missed).
pub struct ProjectionEpochs {
    counters: HashMap<&'static str, AtomicU64>,
    everything: AtomicU64,
    listener: OnceLock<AbortOnDrop>,
    /// Ticks on every bump, for those who act on changes (the Redis cache).
    changes: watch::Sender<u64>,
}

/// A listener run by its cache itself; stops it when the cache goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `job` in a task of its own, again after a pause whenever it fails: for caches made with
/// no supervisor to host their listener.
fn run_alone(job: Arc<dyn HostedJob>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let (_never, stop) = watch::channel(false);
        while let Err(error) = job.run(stop.clone()).await {
            tracing::warn!(job = job.name(), %error, "cache listener failed; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }))
}

/// Waits until the job is asked to stop: what a listener does once its cache is gone.
async fn idle(mut shutdown: watch::Receiver<bool>) -> JobResult {
    stop_requested(&mut shutdown).await;
    Ok(())
}

/// Follows the projections' announcements and bumps the counters they name. A run that loses
/// its connection fails (its supervisor starts another); a run on a new connection starts by
/// bumping all counters, since announcements may have been missed while none listened.
pub struct EpochListener {
    pool: PgPool,
    /// Weak, so that a listener run by the counters themselves does not keep them alive.
    epochs: Weak<ProjectionEpochs>,
    /// The connection made when the counters were, for the first run.
    connected: Mutex<Option<PgListener>>,
}

impl HostedJob for EpochListener {
    fn name(&self) -> &str {
        "cache-announcements"
    }

    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult> {
        let (pool, weak) = (self.pool.clone(), self.epochs.clone());
        let connected = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        async move {
            // The first run's connection has listened since the counters were made; a new one
            // may have missed announcements, so everything cached so far is suspect.
            let mut listener = match connected {
                Some(listener) => listener,
                None => {
                    let listener = listen(&pool).await.map_err(|e| e.to_string())?;
                    match weak.upgrade() {
                        Some(epochs) => epochs.bump_all(),
                        None => return idle(shutdown).await,
                    }
                    listener
                }
            };
            loop {
                let received = tokio::select! {
                    _ = stop_requested(&mut shutdown) => return Ok(()),
                    received = listener.try_recv() => received,
                };
                let Some(epochs) = weak.upgrade() else {
                    return idle(shutdown).await;
                };
                match received {
                    Ok(Some(n)) => epochs.bump(n.payload()),
                    // The connection dropped; the listener reconnects on the next call.
                    Ok(None) => epochs.bump_all(),
                    Err(e) => {
                        epochs.bump_all();
                        return Err(format!("projection announcements lost: {e}"));
                    }
                }
            }
        }
        .boxed()
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(PROJECTED_CHANNEL).await?;
    Ok(listener)
}

impl ProjectionEpochs {
    /// Counters for the named projections and the listener that feeds them, already connected
    /// (so a database that refuses it fails here); host the listener under a supervisor.
    pub async fn listen(
        pool: &PgPool,
        names: &[&'static str],
    ) -> Result<(Arc<Self>, EpochListener), sqlx::Error> {
        let connected = listen(pool).await?;
        let epochs = Arc::new(Self::detached(names));
        let listener = EpochListener {
            pool: pool.clone(),
            epochs: Arc::downgrade(&epochs),
            connected: Mutex::new(Some(connected)),
        };
        Ok((epochs, listener))
    }

    /// Counters whose listener runs in a task of their own (where no supervisor hosts it).
    pub async fn start(pool: &PgPool, names: &[&'static str]) -> Result<Arc<Self>, sqlx::Error> {
        let (epochs, listener) = Self::listen(pool, names).await?;
        let _ = epochs.listener.set(run_alone(Arc::new(listener)));
        Ok(epochs)
    }

    /// Counters with no listener (tests bump them by hand).
    pub fn detached(names: &[&'static str]) -> Self {
        Self {
            counters: names.iter().map(|n| (*n, AtomicU64::new(0))).collect(),
            everything: AtomicU64::new(0),
            listener: OnceLock::new(),
            changes: watch::channel(0).0,
        }
    }

    /// A projection committed: reads depending on it are stale.
    pub fn bump(&self, name: &str) {
        if let Some(c) = self.counters.get(name) {
            c.fetch_add(1, Ordering::AcqRel);
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    pub fn bump_all(&self) {
        self.everything.fetch_add(1, Ordering::AcqRel);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The projections these counters follow.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.counters.keys().copied()
    }

    /// Whether `name` is one of them.
    pub fn follows(&self, name: &str) -> bool {
        self.counters.contains_key(name)
    }

    /// Changes whenever anything was bumped (never misses one: see `watch::Receiver::changed`).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A value that changes whenever any of `names` (or everything) was bumped.
    pub fn epoch(&self, names: &[&str]) -> u64 {
        names
            .iter()
            .filter_map(|n| self.counters.get(*n))
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

/// Entries the in-process hot cache holds at most.
const HOT_CAPACITY: usize = 10_000;

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
        Self::Memory(Arc::new(MemoryHotCache {
            epochs,
            entries: DashMap::new(),
            capacity: HOT_CAPACITY,
        }))
    }

    /// In Redis, entries living at most `ttl`. Every bump of `epochs` moves the projection's
    /// generation in Redis, which invalidates it for every node. Runs its [`RedisWatcher`] in a
    /// task of its own, so it must be called within a Tokio runtime.
    pub fn redis(conn: RedisConn, epochs: Arc<ProjectionEpochs>, ttl: Duration) -> Self {
        let (cache, watcher) = RedisHotCache::new(conn, epochs, ttl);
        let _ = cache.watcher.set(run_alone(Arc::new(watcher)));
        Self::Redis(cache)
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
            Self::Memory(m) => m.epochs.bump(projection),
            Self::Redis(r) => {
                r.epochs.bump(projection);
                if let Err(e) = r.propagate(projection).await {
                    r.conn.log_unavailable("invalidating the cache", &e);
                }
            }
        }
    }
}

/// A cached value with the epoch it was read at.
type Stamped = (u64, Arc<dyn Any + Send + Sync>);

/// Entries by projection and key, each valid while its projection's epoch is unchanged.
pub struct MemoryHotCache {
    epochs: Arc<ProjectionEpochs>,
    entries: DashMap<(&'static str, String), Stamped>,
    capacity: usize,
}

impl MemoryHotCache {
    async fn get_or_load<V, E, F, Fut>(
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

/// One round trip per read: the projection's current generation and the entry under it.
/// KEYS[1]: `{prefix}:gen:{projection}`; ARGV[1]: `{prefix}:cache:{projection}:`, ARGV[2]: the
/// query key. Returns `{generation, value or nil}`.
const LOOKUP: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])}
";

/// Entries as JSON under `{prefix}:cache:{projection}:{generation}:{key}`. The generation is the
/// Redis counter `{prefix}:gen:{projection}`, which each node increments when it hears that the
/// projection committed; so any node's invalidation moves every node to a fresh key space, and a
/// read that raced with an invalidation writes its stale value under the old generation, where
/// nobody reads it again. Old generations expire with their entries' TTL.
pub struct RedisHotCache {
    conn: RedisConn,
    epochs: Arc<ProjectionEpochs>,
    ttl: Duration,
    /// Per projection, the local epoch whose change this node last pushed to Redis.
    propagated: HashMap<&'static str, AtomicU64>,
    lookup: redis::Script,
    watcher: OnceLock<AbortOnDrop>,
}

/// Pushes every change this node hears of to Redis, so that other nodes stop serving what it
/// invalidated even if this node never reads that projection again.
pub struct RedisWatcher {
    cache: Weak<RedisHotCache>,
}

impl HostedJob for RedisWatcher {
    fn name(&self) -> &str {
        "cache-redis"
    }

    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult> {
        let weak = self.cache.clone();
        async move {
            let Some(mut changes) = weak.upgrade().map(|c| c.epochs.subscribe()) else {
                return idle(shutdown).await;
            };
            loop {
                // First what changed while no watcher ran, then each change as it comes.
                let Some(cache) = weak.upgrade() else {
                    return idle(shutdown).await;
                };
                for name in cache.epochs.names() {
                    if let Err(e) = cache.propagate(name).await {
                        // The next read of the projection on this node tries again.
                        cache.conn.log_unavailable("invalidating the cache", &e);
                        break;
                    }
                }
                drop(cache);
                tokio::select! {
                    _ = stop_requested(&mut shutdown) => return Ok(()),
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return idle(shutdown).await;
                        }
                    }
                }
            }
        }
        .boxed()
    }
}

impl RedisHotCache {
    fn new(
        conn: RedisConn,
        epochs: Arc<ProjectionEpochs>,
        ttl: Duration,
    ) -> (Arc<Self>, RedisWatcher) {
        let propagated = epochs
            .names()
            .map(|n| (n, AtomicU64::new(epochs.epoch(&[n]))))
            .collect();
        let cache = Arc::new(Self {
            conn,
            epochs,
            ttl,
            propagated,
            lookup: redis::Script::new(LOOKUP),
            watcher: OnceLock::new(),
        });
        let watcher = RedisWatcher {
            cache: Arc::downgrade(&cache),
        };
        (cache, watcher)
    }

    /// Moves the projection's generation if this node saw it change since it last did.
    async fn propagate(&self, projection: &str) -> Result<(), RedisUnavailable> {
        let Some(seen) = self.propagated.get(projection) else {
            return Ok(());
        };
        let current = self.epochs.epoch(&[projection]);
        if seen.load(Ordering::Acquire) == current {
            return Ok(());
        }
        let key = self.conn.key(format_args!("gen:{projection}"));
        self.conn
            .run(|mut c| async move {
                redis::cmd("INCR")
                    .arg(&key)
                    .query_async::<i64>(&mut c)
                    .await
            })
            .await?;
        // If it moved again meanwhile, the next call increments once more.
        seen.store(current, Ordering::Release);
        Ok(())
    }

    async fn get_or_load<V, E, F, Fut>(
        &self,
        projection: &'static str,
        key: &str,
        load: F,
    ) -> Result<V, E>
    where
        V: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if !self.propagated.contains_key(projection) {
            return load().await;
        }
        let found = match self.lookup(projection, key).await {
            Ok(found) => found,
            Err(e) => {
                self.conn.log_unavailable("reading through the cache", &e);
                return load().await;
            }
        };
        let generation = match found {
            (_, Some(json)) => match serde_json::from_str::<V>(&json) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // Written by another version of the code, say: replace it.
                    tracing::debug!(error = %e, projection, "unreadable cache entry");
                    found.0
                }
            },
            (generation, None) => generation,
        };
        let value = load().await?;
        match serde_json::to_string(&value) {
            Ok(json) => {
                let entry = self
                    .conn
                    .key(format_args!("cache:{projection}:{generation}:{key}"));
                let ttl = self.ttl.as_secs().max(1);
                let stored = self
                    .conn
                    .run(|mut c| async move {
                        redis::cmd("SET")
                            .arg(&entry)
                            .arg(json)
                            .arg("EX")
                            .arg(ttl)
                            .query_async::<()>(&mut c)
                            .await
                    })
                    .await;
                if let Err(e) = stored {
                    self.conn.log_unavailable("filling the cache", &e);
                }
            }
            Err(e) => tracing::warn!(error = %e, projection, "a query result is not cacheable"),
        }
        Ok(value)
    }

    /// The projection's generation and the entry for `key` under it.
    async fn lookup(
        &self,
        projection: &str,
        key: &str,
    ) -> Result<(String, Option<String>), RedisUnavailable> {
        // A change this node heard of must reach Redis before it reads.
        self.propagate(projection).await?;
        let generation = self.conn.key(format_args!("gen:{projection}"));
        let entries = self.conn.key(format_args!("cache:{projection}:"));
        self.conn
            .run(|mut c| {
                let script = &self.lookup;
                async move {
                    let mut call = script.key(&generation);
                    call.arg(&entries).arg(key);
                    call.invoke_async::<(String, Option<String>)>(&mut c).await
                }
            })
            .await
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
