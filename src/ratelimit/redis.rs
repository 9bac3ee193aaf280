//! Buckets in Redis, shared by every node: the GCRA step runs as one Lua script, so it is
//! atomic, and it reads Redis's clock, so nodes whose clocks disagree still agree on buckets.
//!
//! When Redis does not answer, the request is allowed (fail open) and a warning is logged: rate
//! limiting protects the API, and must not be what takes it down. (The login throttle, which
//! guards passwords, falls back to throttling in process instead: see `auth::throttle`.)

use std::time::Duration;

use redis::Script;

use super::Decision;
use crate::redis_conn::RedisConn;

/// KEYS[1]: the bucket; ARGV[1]: emission interval, ARGV[2]: window, both in microseconds.
/// Returns `{1, remaining}` or `{0, microseconds until a retry passes}`. Integers stay exact:
/// microseconds since 1970 fit a Lua double's 53 bits for the next couple of centuries.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
if next_tat - window > now then
  return {0, next_tat - window - now}
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor((now + window - next_tat) / interval)}
";

/// GCRA buckets under `{prefix}:rl:{bucket}`, each expiring when it would be full again.
pub struct RedisLimiter {
    conn: RedisConn,
    script: Script,
}

impl RedisLimiter {
    pub fn new(conn: RedisConn) -> Self {
        Self {
            conn,
            script: Script::new(GCRA),
        }
    }

    pub(super) async fn check(
        &self,
        bucket: &str,
        limit: u32,
        interval: Duration,
        window: Duration,
    ) -> Decision {
        let key = self.conn.key(format_args!("rl:{bucket}"));
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let result = self
            .conn
            .run(|mut c| {
                let script = &self.script;
                let key = &key;
                async move {
                    let mut call = script.key(key);
                    call.arg(micros(interval)).arg(micros(window));
                    call.invoke_async::<(i64, i64)>(&mut c).await
                }
            })
            .await;
        match result {
            Ok((1, remaining)) => Decision::Allowed {
                remaining: u32::try_from(remaining.max(0))
                    .unwrap_or(u32::MAX)
                    .min(limit),
            },
            Ok((_, wait_us)) => Decision::Limited {
                retry_after: Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)),
            },
            Err(e) => {
                self.conn
                    .log_unavailable("rate limiting is off: requests pass", &e);
                Decision::Allowed { remaining: limit }
            }
        }
    }
}
