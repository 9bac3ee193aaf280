//! A sliding window of attempts per key, in process.

use std::collections::VecDeque;
use std::hash::Hash;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Past this many tracked keys, stale ones are swept so an attacker cycling through addresses or
/// made-up accounts cannot grow the map without bound.
const SWEEP_ABOVE: usize = 50_000;

/// Attempts per key within the last `window`; at `limit` attempts the key is throttled until the
/// oldest one leaves the window. Attempts are counted when they start, under the key's lock, so a
/// burst of parallel guesses cannot all pass before the first one fails.
pub(super) struct SlidingWindow<K: Eq + Hash> {
    limit: usize,
    window: Duration,
    attempts: DashMap<K, VecDeque<Instant>>,
}

impl<K: Eq + Hash + Clone> SlidingWindow<K> {
    pub(super) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            attempts: DashMap::new(),
        }
    }

    /// A limit of 0: nothing is throttled.
    pub(super) fn is_off(&self) -> bool {
        self.limit == 0
    }

    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    pub(super) fn window(&self) -> Duration {
        self.window
    }

    /// Counts an attempt, or `Err(retry after)` while `key` is throttled.
    pub(super) fn try_acquire(&self, key: K, now: Instant) -> Result<(), Duration> {
        // A limit of 0 turns throttling off (otherwise nobody could ever sign in).
        if self.limit == 0 {
            return Ok(());
        }
        if self.attempts.len() > SWEEP_ABOVE {
            let window = self.window;
            self.attempts
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let mut q = self.attempts.entry(key).or_default();
        self.prune(&mut q, now);
        if q.len() >= self.limit {
            let oldest = q.front().copied().unwrap_or(now);
            return Err(oldest
                .checked_add(self.window)
                .map_or(self.window, |t| t.saturating_duration_since(now)));
        }
        q.push_back(now);
        Ok(())
    }

    /// Gives back the newest attempt of `key` (it turned out well, or was never made).
    pub(super) fn refund(&self, key: &K) {
        if let Some(mut q) = self.attempts.get_mut(key) {
            q.pop_back();
        }
    }

    pub(super) fn reset(&self, key: &K) {
        self.attempts.remove(key);
    }

    fn prune(&self, q: &mut VecDeque<Instant>, now: Instant) {
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
    }
}
