//! Buckets in process: one timestamp per bucket in a concurrent map, swept of idle buckets so
//! memory stays bounded.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::Decision;

/// Idle buckets are swept at least this often.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Past this many buckets a sweep comes early (at most once a second).
const SWEEP_ABOVE: usize = 50_000;
/// If a sweep leaves more than this many live buckets, they are all dropped: memory stays
/// bounded, and the flood that filled it gets one fresh budget.
const MAX_BUCKETS: usize = 500_000;

/// GCRA buckets: each holds its theoretical arrival time (TAT); a bucket whose TAT has passed
/// is as good as absent.
pub struct MemoryLimiter {
    buckets: DashMap<String, Instant>,
    last_sweep: Mutex<Instant>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self {
            buckets: DashMap::new(),
            last_sweep: Mutex::new(Instant::now()),
        }
    }
}

impl MemoryLimiter {
    pub(super) fn check(
        &self,
        bucket: &str,
        limit: u32,
        interval: Duration,
        window: Duration,
    ) -> Decision {
        self.check_at(bucket, limit, interval, window, Instant::now())
    }

    /// Buckets currently held.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    fn check_at(
        &self,
        bucket: &str,
        limit: u32,
        interval: Duration,
        window: Duration,
        now: Instant,
    ) -> Decision {
        self.maybe_sweep(now);
        // The entry's lock is held from read to write, so parallel requests are all counted.
        let decide = |tat: &mut Instant| {
            let next = (*tat).max(now) + interval;
            // Allowed when the new TAT is at most one window ahead of now.
            if let Some(wait) = next.checked_duration_since(now + window) {
                if !wait.is_zero() {
                    return Decision::Limited { retry_after: wait };
                }
            }
            *tat = next;
            let slack = (now + window).saturating_duration_since(next);
            let remaining = slack.as_nanos() / interval.as_nanos().max(1);
            Decision::Allowed {
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX).min(limit),
            }
        };
        if let Some(mut tat) = self.buckets.get_mut(bucket) {
            return decide(&mut tat);
        }
        let mut tat = self.buckets.entry(bucket.to_owned()).or_insert(now);
        decide(&mut tat)
    }

    fn maybe_sweep(&self, now: Instant) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return; // another request is sweeping
        };
        let since = now.saturating_duration_since(*last);
        let due = since >= SWEEP_EVERY
            || (self.buckets.len() > SWEEP_ABOVE && since >= Duration::from_secs(1));
        if !due {
            return;
        }
        *last = now;
        self.buckets.retain(|_, tat| *tat > now);
        if self.buckets.len() > MAX_BUCKETS {
            tracing::warn!(
                buckets = self.buckets.len(),
                "too many live rate-limit buckets; starting over"
            );
            self.buckets.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn check(l: &MemoryLimiter, bucket: &str, limit: u32, now: Instant) -> Decision {
        l.check_at(bucket, limit, WINDOW / limit, WINDOW, now)
    }

    #[test]
    fn a_burst_of_the_limit_passes_then_one_per_interval() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                check(&l, "a", 3, t0),
                Decision::Allowed { remaining: 2 - i }
            );
        }
        assert_eq!(
            check(&l, "a", 3, t0),
            Decision::Limited {
                retry_after: Duration::from_secs(20)
            }
        );
        assert_eq!(
            check(&l, "b", 3, t0),
            Decision::Allowed { remaining: 2 },
            "other buckets are unaffected"
        );
        // A refusal is not counted: 20 s later exactly one more passes.
        let t1 = t0 + Duration::from_secs(20);
        assert_eq!(check(&l, "a", 3, t1), Decision::Allowed { remaining: 0 });
        assert!(matches!(check(&l, "a", 3, t1), Decision::Limited { .. }));
        // After a whole idle window the full burst is back.
        let t2 = t1 + WINDOW;
        assert_eq!(check(&l, "a", 3, t2), Decision::Allowed { remaining: 2 });
    }

    #[test]
    fn parallel_requests_are_all_counted() {
        let l = std::sync::Arc::new(MemoryLimiter::default());
        let now = Instant::now();
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let l = l.clone();
                    s.spawn(move || {
                        (0..50)
                            .filter(|_| {
                                matches!(check(&l, "k", 100, now), Decision::Allowed { .. })
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(passed, 100);
    }

    #[test]
    fn idle_buckets_are_swept() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        // One request per window: each bucket stays live for a whole window.
        for i in 0..100 {
            check(&l, &format!("k{i}"), 1, t0);
        }
        assert_eq!(l.len(), 100);
        let soon = t0 + SWEEP_EVERY;
        check(&l, "fresh", 1, soon);
        assert_eq!(l.len(), 101, "a sweep keeps live buckets");
        // Once their TATs have passed they are gone at the next sweep.
        let later = t0 + WINDOW * 2 + SWEEP_EVERY;
        check(&l, "fresh-2", 1, later);
        assert_eq!(l.len(), 1, "only the bucket just used is left");
    }
}
