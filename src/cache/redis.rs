//! The hot cache in Redis, shared by every node: entries under per-projection generations that
//! each node moves when it hears that the projection committed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_actors::{stop_requested, HostedJob, JobResult};
use tokio::sync::watch;

use super::epochs::{idle, run_alone, AbortOnDrop};
use super::ProjectionEpochs;
use crate::redis_conn::{RedisConn, RedisUnavailable};

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
    /// A cache whose watcher runs in a task of its own, so it must be called within a Tokio
    /// runtime.
    pub(super) fn start(
        conn: RedisConn,
        epochs: Arc<ProjectionEpochs>,
        ttl: Duration,
    ) -> Arc<Self> {
        let (cache, watcher) = Self::new(conn, epochs, ttl);
        let _ = cache.watcher.set(run_alone(Arc::new(watcher)));
        cache
    }

    pub(super) fn new(
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

    /// Drops what is cached for `projection` now, on every node.
    pub(super) async fn invalidate(&self, projection: &str) {
        self.epochs.bump(projection);
        if let Err(e) = self.propagate(projection).await {
            self.conn.log_unavailable("invalidating the cache", &e);
        }
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

    pub(super) async fn get_or_load<V, E, F, Fut>(
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
