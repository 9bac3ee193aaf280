//! Throttle windows in Redis, shared by every node: a sorted set of attempt times (Redis's own
//! clock, in microseconds) per key under `{prefix}:login:{kind}:{key}`, expiring with its window.

use std::time::Duration;

use redis::Script;
use uuid::Uuid;

use super::Budget;
use crate::redis_conn::RedisConn;

/// KEYS[1]: the window; ARGV[1]: limit, ARGV[2]: window in microseconds, ARGV[3]: a unique
/// member. Drops attempts older than the window; at the limit returns `{0, microseconds until
/// the oldest leaves}`, else records the attempt and returns `{1, 0}`.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, tonumber(oldest[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, 0}
";

pub(super) struct SharedWindows {
    conn: RedisConn,
    acquire: Script,
}

impl SharedWindows {
    pub(super) fn new(conn: RedisConn) -> Self {
        Self {
            conn,
            acquire: Script::new(ACQUIRE),
        }
    }

    fn key(&self, budget: &Budget, key: &str) -> String {
        self.conn.key(format_args!("login:{}:{key}", budget.kind))
    }

    /// Counts an attempt, or `Err(retry after)`; `None` when Redis gave no answer (the caller
    /// throttles in process instead).
    pub(super) async fn acquire(&self, budget: &Budget, key: &str) -> Option<Result<(), Duration>> {
        let key = self.key(budget, key);
        let limit = budget.local.limit();
        let window = u64::try_from(budget.local.window().as_micros()).unwrap_or(u64::MAX);
        let result = self
            .conn
            .run(|mut c| {
                let script = &self.acquire;
                let key = &key;
                async move {
                    let mut call = script.key(key);
                    call.arg(limit)
                        .arg(window)
                        .arg(Uuid::new_v4().simple().to_string());
                    call.invoke_async::<(i64, i64)>(&mut c).await
                }
            })
            .await;
        match result {
            Ok((1, _)) => Some(Ok(())),
            Ok((_, wait_us)) => Some(Err(Duration::from_micros(
                u64::try_from(wait_us).unwrap_or(1),
            ))),
            Err(e) => {
                self.conn
                    .log_unavailable("login throttling goes on per node", &e);
                None
            }
        }
    }

    /// Gives back the newest attempt; false when Redis gave no answer.
    pub(super) async fn refund(&self, budget: &Budget, key: &str) -> bool {
        let key = self.key(budget, key);
        self.conn
            .run(|mut c| async move {
                redis::cmd("ZPOPMAX")
                    .arg(&key)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
            .is_ok()
    }

    /// Forgets every attempt; false when Redis gave no answer.
    pub(super) async fn reset(&self, budget: &Budget, key: &str) -> bool {
        let key = self.key(budget, key);
        self.conn
            .run(|mut c| async move { redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await })
            .await
            .is_ok()
    }
}
