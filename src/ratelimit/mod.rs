//! Request rate limits, shared by every node through Redis when it is configured, in process
//! otherwise.
//!
//! Both backends run GCRA (the generic cell rate algorithm): a bucket allowing `limit` requests
//! per `window` lets one request through every `window / limit` on average and a burst of up to
//! `limit` at once; its whole state is one timestamp, the "theoretical arrival time". A refused
//! request is not counted, and the refusal says exactly when the next one will pass.

mod memory;
pub mod middleware;
mod redis;

use std::sync::Arc;
use std::time::Duration;

pub use self::redis::RedisLimiter;
pub use memory::MemoryLimiter;
pub use middleware::{limit_requests, RateLimitPolicy};

use crate::redis_conn::RedisConn;

/// The verdict on one request against one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Counted; `remaining` more would pass right now.
    Allowed { remaining: u32 },
    /// Not counted; a retry after `retry_after` passes.
    Limited { retry_after: Duration },
}

/// Where the buckets live.
#[derive(Clone)]
pub enum RateLimiter {
    Memory(Arc<MemoryLimiter>),
    Redis(Arc<RedisLimiter>),
}

impl RateLimiter {
    /// Buckets in this process only.
    pub fn memory() -> Self {
        Self::Memory(Arc::new(MemoryLimiter::default()))
    }

    /// Buckets in Redis, shared by every node using the same server and key prefix. When Redis
    /// does not answer, requests are allowed (see [`RedisLimiter`]).
    pub fn redis(conn: RedisConn) -> Self {
        Self::Redis(Arc::new(RedisLimiter::new(conn)))
    }

    /// Redis when one is configured, else in process.
    pub fn from_connection(conn: Option<RedisConn>) -> Self {
        conn.map_or_else(Self::memory, Self::redis)
    }

    /// Counts a request against `bucket`, which allows `limit` per `window`; a limit of 0 means
    /// no limit.
    pub async fn check(&self, bucket: &str, limit: u32, window: Duration) -> Decision {
        let Some(interval) = emission_interval(limit, window) else {
            return Decision::Allowed {
                remaining: u32::MAX,
            };
        };
        match self {
            Self::Memory(m) => m.check(bucket, limit, interval, window),
            Self::Redis(r) => r.check(bucket, limit, interval, window).await,
        }
    }
}

/// The average time between requests, or `None` when the bucket has no limit.
fn emission_interval(limit: u32, window: Duration) -> Option<Duration> {
    if limit == 0 {
        return None;
    }
    // Rounded down, so that `limit` requests always fit in a burst.
    let interval = window / limit;
    (!interval.is_zero()).then_some(interval)
}

/// `retry_after` in whole seconds, rounded up (a `Retry-After` of 0 would invite a retry storm).
pub fn retry_after_secs(retry_after: Duration) -> u64 {
    (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn zero_limits_and_degenerate_windows_mean_no_limit() {
        assert_eq!(emission_interval(0, Duration::from_secs(60)), None);
        assert_eq!(emission_interval(10, Duration::from_nanos(5)), None);
        assert_eq!(
            emission_interval(4, Duration::from_secs(1)),
            Some(Duration::from_millis(250))
        );
    }
}
