//! Login throttling, in process: a sliding window of login attempts per account and per client
//! address. (A shared Redis-backed store comes with the content issue.)

use std::collections::VecDeque;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Past this many tracked keys, stale ones are swept so an attacker cycling through addresses or
/// made-up accounts cannot grow the map without bound.
const SWEEP_ABOVE: usize = 50_000;

/// Attempts per key within the last `window`; at `limit` attempts the key is throttled until the
/// oldest one leaves the window. Attempts are counted when they start, under the key's lock, so a
/// burst of parallel guesses cannot all pass before the first one fails.
struct SlidingWindow<K: Eq + Hash> {
    limit: usize,
    window: Duration,
    attempts: DashMap<K, VecDeque<Instant>>,
}

impl<K: Eq + Hash + Clone> SlidingWindow<K> {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            attempts: DashMap::new(),
        }
    }

    /// Counts an attempt, or `Err(retry after)` while `key` is throttled.
    fn try_acquire(&self, key: K, now: Instant) -> Result<(), Duration> {
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
    fn refund(&self, key: &K) {
        if let Some(mut q) = self.attempts.get_mut(key) {
            q.pop_back();
        }
    }

    fn reset(&self, key: &K) {
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

/// Throttles logins per account (normalised email) and per client address, and sign-ups per
/// client address.
pub struct LoginThrottle {
    accounts: SlidingWindow<String>,
    addresses: SlidingWindow<IpAddr>,
    registrations: SlidingWindow<IpAddr>,
}

impl LoginThrottle {
    pub fn new(per_account: u32, per_address: u32, window: Duration) -> Self {
        Self::with_registrations(per_account, per_address, 0, window)
    }

    pub fn with_registrations(
        per_account: u32,
        per_address: u32,
        registrations_per_address: u32,
        window: Duration,
    ) -> Self {
        Self {
            accounts: SlidingWindow::new(per_account, window),
            addresses: SlidingWindow::new(per_address, window),
            registrations: SlidingWindow::new(registrations_per_address, window),
        }
    }

    /// Counts a sign-up from `address`, or `Err(retry after)` when it made too many.
    pub fn begin_registration(&self, address: IpAddr) -> Result<(), Duration> {
        self.registrations.try_acquire(address, Instant::now())
    }

    /// Starts a login attempt: counts it against the account and the address, or
    /// `Err(retry after)` if either is throttled (then nothing is counted).
    pub fn begin(&self, account: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        self.begin_at(account, address, Instant::now())
    }

    /// A successful login clears the account's attempts and gives the address its attempt back
    /// (failures still count against the address: one good password must not reset an address
    /// that is guessing at many accounts).
    pub fn succeeded(&self, account: &str, address: Option<IpAddr>) {
        self.accounts.reset(&account.to_owned());
        if let Some(ip) = address {
            self.addresses.refund(&ip);
        }
    }

    fn begin_at(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        self.accounts.try_acquire(account.to_owned(), now)?;
        if let Some(ip) = address {
            if let Err(retry) = self.addresses.try_acquire(ip, now) {
                self.accounts.refund(&account.to_owned());
                return Err(retry);
            }
        }
        Ok(())
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
            assert!(t
                .begin_at("a", IP, t0 + Duration::from_secs(i * 10))
                .is_ok());
        }
        let now = t0 + Duration::from_secs(25);
        assert_eq!(t.begin_at("a", IP, now), Err(Duration::from_secs(35)));
        assert!(
            t.begin_at("b", IP, now).is_ok(),
            "other accounts are unaffected"
        );
        // The first attempt leaves the window at t0 + 60.
        assert!(t.begin_at("a", IP, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn parallel_attempts_are_counted_before_any_of_them_ends() {
        let t = LoginThrottle::new(5, 100, Duration::from_secs(60));
        let now = Instant::now();
        // Twenty guesses started at once: only the limit gets through.
        let passed = (0..20).filter(|_| t.begin_at("a", IP, now).is_ok()).count();
        assert_eq!(passed, 5);
    }

    #[test]
    fn success_resets_the_account_but_not_the_address() {
        let t = LoginThrottle::new(2, 3, Duration::from_secs(60));
        let now = Instant::now();
        t.begin_at("a", IP, now).unwrap();
        t.begin_at("a", IP, now).unwrap();
        assert!(t.begin_at("a", IP, now).is_err());
        t.succeeded("a", IP);
        assert!(
            t.begin_at("a", IP, now).is_ok(),
            "the account is clear again"
        );
        // The address holds the failed attempt and the new one; the success was given back.
        assert!(t.begin_at("d", IP, now).is_ok());
        assert!(
            t.begin_at("e", IP, now).is_err(),
            "the address reached its 3 attempts"
        );
        assert!(t.begin_at("e", None, now).is_ok());
    }

    #[test]
    fn a_refused_address_does_not_charge_the_account() {
        let t = LoginThrottle::new(2, 1, Duration::from_secs(60));
        let now = Instant::now();
        t.begin_at("x", IP, now).unwrap();
        assert!(t.begin_at("a", IP, now).is_err());
        assert!(t.begin_at("a", None, now).is_ok());
        assert!(
            t.begin_at("a", None, now).is_ok(),
            "only the real attempts counted"
        );
        assert!(t.begin_at("a", None, now).is_err());
    }

    #[test]
    fn a_zero_limit_disables_throttling() {
        let t = LoginThrottle::new(0, 0, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..10 {
            assert!(t.begin_at("a", IP, now).is_ok());
        }
    }
}
