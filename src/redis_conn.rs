//! The Redis connection the rate limiter and the read-through cache share, when one is
//! configured.
//!
//! Redis is an accelerator here, never a dependency: the connection opens lazily, every operation
//! is bounded by a timeout, and after a connection-level failure calls fail at once for a short
//! while instead of each waiting for a dead server. Callers then go on without Redis.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisError;
use secrecy::{ExposeSecret, SecretString};

use crate::config::RedisSettings;

/// After a connection-level failure, no call reaches Redis for this long.
const BACKOFF: Duration = Duration::from_secs(1);
/// At most one warning about an unreachable Redis per this long (others are debug events).
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Why a Redis operation gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum RedisUnavailable {
    #[error("redis error: {0}")]
    Redis(#[from] RedisError),
    #[error("redis gave no answer within {0:?}")]
    Timeout(Duration),
    #[error("redis was unreachable moments ago; not retrying yet")]
    BackingOff,
}

/// A cheap-to-clone handle: one multiplexed, self-reconnecting connection and the key prefix.
#[derive(Clone)]
pub struct RedisConn(Arc<Inner>);

struct Inner {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    manager: tokio::sync::OnceCell<ConnectionManager>,
    /// Calls fail fast until then.
    paused_until: Mutex<Option<Instant>>,
    last_warning: Mutex<Option<Instant>>,
}

impl RedisConn {
    /// The configured Redis, or `None` when no URL is set. Nothing is contacted yet.
    pub fn from_settings(settings: &RedisSettings) -> anyhow::Result<Option<Self>> {
        settings
            .url
            .as_ref()
            .map(|url| {
                Self::new(
                    url,
                    &settings.key_prefix,
                    Duration::from_millis(settings.timeout_ms.max(1)),
                )
            })
            .transpose()
    }

    pub fn new(url: &SecretString, key_prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        // The parser's message is enough; the URL itself may hold a password.
        let client = redis::Client::open(url.expose_secret())
            .map_err(|e| anyhow::anyhow!("{}", e.category()))
            .context("REDIS_URL is not a usable Redis URL (redis://[:password@]host:port[/db])")?;
        Ok(Self(Arc::new(Inner {
            client,
            prefix: key_prefix.to_owned(),
            timeout,
            manager: tokio::sync::OnceCell::new(),
            paused_until: Mutex::new(None),
            last_warning: Mutex::new(None),
        })))
    }

    /// `"{prefix}:{rest}"`.
    pub fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}:{rest}", self.0.prefix)
    }

    /// Runs `op` on the connection, within the timeout.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisUnavailable>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let started = Instant::now();
        let manager = self.connection().await?;
        let left = self.0.timeout.saturating_sub(started.elapsed());
        let result = match tokio::time::timeout(left, op(manager)).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => RedisUnavailable::Redis(e),
            Err(_) => RedisUnavailable::Timeout(self.0.timeout),
        };
        if self.is_connection_failure(&result) {
            self.pause();
        }
        Err(result)
    }

    /// Logs that `what` went on without Redis; a warning at most every few seconds, so an outage
    /// does not flood the log.
    pub fn log_unavailable(&self, what: &str, error: &RedisUnavailable) {
        let now = Instant::now();
        let warn = match self.0.last_warning.lock() {
            Ok(mut last) if last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) => {
                *last = Some(now);
                true
            }
            _ => false,
        };
        if warn {
            tracing::warn!(%error, "{what} without Redis");
        } else {
            tracing::debug!(%error, "{what} without Redis");
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisUnavailable> {
        if self.paused() {
            return Err(RedisUnavailable::BackingOff);
        }
        if let Some(m) = self.0.manager.get() {
            return Ok(m.clone());
        }
        let timeout = self.0.timeout;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            // Reconnects are retried by the next calls (after the backoff), not in a loop here.
            .set_number_of_retries(1)
            .set_max_delay(100);
        let opened = self
            .0
            .manager
            .get_or_try_init(|| async {
                match tokio::time::timeout(
                    timeout,
                    ConnectionManager::new_with_config(self.0.client.clone(), config),
                )
                .await
                {
                    Ok(Ok(m)) => Ok(m),
                    Ok(Err(e)) => Err(RedisUnavailable::Redis(e)),
                    Err(_) => Err(RedisUnavailable::Timeout(timeout)),
                }
            })
            .await;
        match opened {
            Ok(m) => Ok(m.clone()),
            Err(e) => {
                self.pause();
                Err(e)
            }
        }
    }

    fn is_connection_failure(&self, e: &RedisUnavailable) -> bool {
        match e {
            RedisUnavailable::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
            }
            RedisUnavailable::Timeout(_) => true,
            RedisUnavailable::BackingOff => false,
        }
    }

    fn paused(&self) -> bool {
        self.0
            .paused_until
            .lock()
            .map(|p| p.is_some_and(|t| Instant::now() < t))
            .unwrap_or(false)
    }

    fn pause(&self) {
        if let Ok(mut p) = self.0.paused_until.lock() {
            *p = Some(Instant::now() + BACKOFF);
        }
    }
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("RedisConn")
            .field("prefix", &self.0.prefix)
            .finish_non_exhaustive()
    }
}
