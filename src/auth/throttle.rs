//! Login throttling, in process: a sliding window of failed attempts per account and per client
//! address. (A shared Redis-backed store comes with the content issue.)

use std::collections::VecDeque;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Past this many tracked keys, stale ones are swept so an attacker cycling through addresses or
/// made-up accounts cannot grow the map without bound.
const SWEEP_ABOVE: usize = 50_000;

/// Failures per key within the last `window`; at `limit` failures the key is throttled until the
/// oldest one leaves the window.
struct SlidingWindow<K: Eq + Hash> {
    limit: usize,
    window: Duration,
    failures: DashMap<K, VecDeque<Instant>>,
}

impl<K: Eq + Hash + Clone> SlidingWindow<K> {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            failures: DashMap::new(),
        }
    }

    /// `Err(retry after)` while `key` is throttled.
    fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        // A limit of 0 turns throttling off (otherwise nobody could ever sign in).
        if self.limit == 0 {
            return Ok(());
        }
        let Some(mut q) = self.failures.get_mut(key) else {
            return Ok(());
        };
        self.prune(&mut q, now);
        if q.len() < self.limit {
            return Ok(());
        }
        let oldest = q.front().copied().unwrap_or(now);
        Err((oldest + self.window).saturating_duration_since(now))
    }

    fn fail(&self, key: K, now: Instant) {
        if self.limit == 0 {
            return;
        }
        if self.failures.len() > SWEEP_ABOVE {
            let window = self.window;
            self.failures
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let mut q = self.failures.entry(key).or_default();
        self.prune(&mut q, now);
        q.push_back(now);
        // Only the newest `limit` failures can matter for the decision.
        while q.len() > self.limit {
            q.pop_front();
        }
    }

    fn reset(&self, key: &K) {
        self.failures.remove(key);
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

/// Throttles failed logins per account (normalised email) and per client address.
pub struct LoginThrottle {
    accounts: SlidingWindow<String>,
    addresses: SlidingWindow<IpAddr>,
}

impl LoginThrottle {
    pub fn new(per_account: u32, per_address: u32, window: Duration) -> Self {
        Self {
            accounts: SlidingWindow::new(per_account, window),
            addresses: SlidingWindow::new(per_address, window),
        }
    }

    /// `Err(retry after)` if either the account or the address is throttled.
    pub fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        self.check_at(account, address, Instant::now())
    }

    pub fn record_failure(&self, account: &str, address: Option<IpAddr>) {
        self.fail_at(account, address, Instant::now())
    }

    /// A successful login clears the account's failures (not the address's: one good password
    /// must not reset an address that is guessing at many accounts).
    pub fn record_success(&self, account: &str) {
        self.accounts.reset(&account.to_owned());
    }

    fn check_at(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let a = self.accounts.check(&account.to_owned(), now);
        let b = address.map_or(Ok(()), |ip| self.addresses.check(&ip, now));
        match (a, b) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(x), Ok(())) | (Ok(()), Err(x)) => Err(x),
            (Err(x), Err(y)) => Err(x.max(y)),
        }
    }

    fn fail_at(&self, account: &str, address: Option<IpAddr>, now: Instant) {
        self.accounts.fail(account.to_owned(), now);
        if let Some(ip) = address {
            self.addresses.fail(ip, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn throttles_an_account_after_its_limit_until_the_window_slides() {
        let t = LoginThrottle::new(3, 100, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(t.check_at("a", IP, t0).is_ok());
            t.fail_at("a", IP, t0 + Duration::from_secs(i * 10));
        }
        let now = t0 + Duration::from_secs(25);
        assert_eq!(t.check_at("a", IP, now), Err(Duration::from_secs(35)));
        assert!(
            t.check_at("b", IP, now).is_ok(),
            "other accounts are unaffected"
        );
        // The first failure leaves the window at t0 + 60.
        assert!(t.check_at("a", IP, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn success_resets_the_account_but_not_the_address() {
        let t = LoginThrottle::new(2, 3, Duration::from_secs(60));
        let now = Instant::now();
        t.fail_at("a", IP, now);
        t.fail_at("a", IP, now);
        assert!(t.check_at("a", IP, now).is_err());
        t.record_success("a");
        assert!(t.check_at("a", IP, now).is_ok());
        t.fail_at("c", IP, now);
        assert!(
            t.check_at("d", IP, now).is_err(),
            "the address reached 3 failures"
        );
        assert!(t.check_at("d", None, now).is_ok());
    }

    #[test]
    fn a_zero_limit_disables_throttling() {
        let t = LoginThrottle::new(0, 0, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..10 {
            t.fail_at("a", IP, now);
        }
        assert!(t.check_at("a", IP, now).is_ok());
    }
}
