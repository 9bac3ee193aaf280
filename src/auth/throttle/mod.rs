//! Login and sign-up throttling.
//!
//! A login attempt counts against its (account, address) pair and against its address, when it
//! starts, before the password is checked. Keying the account's budget on the pair means a
//! stranger guessing at an account uses up only their own budget: the owner, from their own
//! address, can still sign in. The per-address budget bounds how many accounts one address may
//! guess at; a success clears the pair and gives the address its attempt back.
//!
//! With Redis configured the windows live there (one sorted set of attempt times per key, each
//! step one Lua script), so N nodes allow what one node allows, not N times it. When Redis does
//! not answer, each node throttles on its own (in process) rather than not at all. Accounts
//! appear in keys only as a hash.

mod redis;
mod window;

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use self::redis::SharedWindows;
use self::window::SlidingWindow;
use crate::ratelimit::middleware::address_key;
use crate::redis_conn::RedisConn;

/// One kind of budget: its name in Redis keys and its in-process window (which also holds the
/// limit and the window's length).
struct Budget {
    kind: &'static str,
    local: SlidingWindow<String>,
}

/// Throttles logins per (account, address) pair and per address, and sign-ups per address.
pub struct LoginThrottle {
    pairs: Budget,
    addresses: Budget,
    registrations: Budget,
    shared: OnceLock<SharedWindows>,
}

/// The key of an account: its normalised email, hashed (throttle state holds no emails).
fn account_key(account: &str) -> String {
    let digest = Sha256::digest(account.as_bytes());
    hex::encode(&digest[..16])
}

fn pair_key(account: &str, address: Option<IpAddr>) -> String {
    let address = address.map_or_else(|| "-".to_owned(), address_key);
    format!("{}|{address}", account_key(account))
}

impl LoginThrottle {
    pub fn new(per_pair: u32, per_address: u32, window: Duration) -> Self {
        Self::with_registrations(per_pair, per_address, 0, window)
    }

    pub fn with_registrations(
        per_pair: u32,
        per_address: u32,
        registrations_per_address: u32,
        window: Duration,
    ) -> Self {
        let budget = |kind, limit| Budget {
            kind,
            local: SlidingWindow::new(limit, window),
        };
        Self {
            pairs: budget("pair", per_pair),
            addresses: budget("addr", per_address),
            registrations: budget("signup", registrations_per_address),
            shared: OnceLock::new(),
        }
    }

    /// Keeps the windows in Redis from now on, shared with every node using it.
    pub fn share_through(&self, conn: RedisConn) {
        let _ = self.shared.set(SharedWindows::new(conn));
    }

    /// Counts a sign-up from `address`, or `Err(retry after)` when it made too many.
    pub async fn begin_registration(&self, address: IpAddr) -> Result<(), Duration> {
        self.acquire(&self.registrations, address_key(address), Instant::now())
            .await
    }

    /// Starts a login attempt: counts it against the pair and the address, or
    /// `Err(retry after)` if either is throttled (then nothing is counted).
    pub async fn begin(&self, account: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        self.begin_at(account, address, Instant::now()).await
    }

    /// A successful login clears its pair's attempts and gives the address its attempt back
    /// (failures still count against the address: one good password must not reset an address
    /// that is guessing at many accounts).
    pub async fn succeeded(&self, account: &str, address: Option<IpAddr>) {
        self.reset(&self.pairs, pair_key(account, address)).await;
        if let Some(ip) = address {
            self.refund(&self.addresses, address_key(ip)).await;
        }
    }

    async fn begin_at(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let pair = pair_key(account, address);
        self.acquire(&self.pairs, pair.clone(), now).await?;
        if let Some(ip) = address {
            if let Err(retry) = self.acquire(&self.addresses, address_key(ip), now).await {
                self.refund(&self.pairs, pair).await;
                return Err(retry);
            }
        }
        Ok(())
    }

    async fn acquire(&self, budget: &Budget, key: String, now: Instant) -> Result<(), Duration> {
        if budget.local.is_off() {
            return Ok(());
        }
        if let Some(shared) = self.shared.get() {
            if let Some(decided) = shared.acquire(budget, &key).await {
                return decided;
            }
        }
        budget.local.try_acquire(key, now)
    }

    async fn refund(&self, budget: &Budget, key: String) {
        match self.shared.get() {
            Some(shared) if shared.refund(budget, &key).await => {}
            _ => budget.local.refund(&key),
        }
    }

    async fn reset(&self, budget: &Budget, key: String) {
        match self.shared.get() {
            Some(shared) if shared.reset(budget, &key).await => {}
            _ => budget.local.reset(&key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const OTHER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[tokio::test]
    async fn throttles_a_pair_after_its_limit_until_the_window_slides() {
        let t = LoginThrottle::new(3, 100, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            let at = t0 + Duration::from_secs(i * 10);
            assert!(t.begin_at("a", IP, at).await.is_ok());
        }
        let now = t0 + Duration::from_secs(25);
        assert_eq!(t.begin_at("a", IP, now).await, Err(Duration::from_secs(35)));
        assert!(
            t.begin_at("b", IP, now).await.is_ok(),
            "other accounts are unaffected"
        );
        // The first attempt leaves the window at t0 + 60.
        let later = t0 + Duration::from_secs(60);
        assert!(t.begin_at("a", IP, later).await.is_ok());
    }

    #[tokio::test]
    async fn a_stranger_guessing_cannot_lock_the_owner_out() {
        let t = LoginThrottle::new(3, 100, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..3 {
            t.begin_at("victim", OTHER, now).await.unwrap();
        }
        assert!(t.begin_at("victim", OTHER, now).await.is_err());
        assert!(
            t.begin_at("victim", IP, now).await.is_ok(),
            "the owner's own address has its own budget"
        );
    }

    #[tokio::test]
    async fn parallel_attempts_are_counted_before_any_of_them_ends() {
        let t = LoginThrottle::new(5, 100, Duration::from_secs(60));
        let now = Instant::now();
        // Twenty guesses started at once: only the limit gets through.
        let attempts = (0..20).map(|_| t.begin_at("a", IP, now));
        let results = futures_util::future::join_all(attempts).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
    }

    #[tokio::test]
    async fn success_resets_the_pair_but_not_the_address() {
        let t = LoginThrottle::new(2, 3, Duration::from_secs(60));
        let now = Instant::now();
        t.begin_at("a", IP, now).await.unwrap();
        t.begin_at("a", IP, now).await.unwrap();
        assert!(t.begin_at("a", IP, now).await.is_err());
        t.succeeded("a", IP).await;
        assert!(
            t.begin_at("a", IP, now).await.is_ok(),
            "the pair is clear again"
        );
        // The address holds the failed attempt and the new one; the success was given back.
        assert!(t.begin_at("d", IP, now).await.is_ok());
        assert!(
            t.begin_at("e", IP, now).await.is_err(),
            "the address reached its 3 attempts"
        );
        assert!(t.begin_at("e", None, now).await.is_ok());
    }

    #[tokio::test]
    async fn a_refused_address_does_not_charge_the_pair() {
        let t = LoginThrottle::new(2, 1, Duration::from_secs(60));
        let now = Instant::now();
        t.begin_at("x", IP, now).await.unwrap();
        assert!(t.begin_at("a", IP, now).await.is_err());
        assert!(t.begin_at("a", None, now).await.is_ok());
        assert!(
            t.begin_at("a", IP, now).await.is_err(),
            "the address is spent"
        );
        // The refused attempts did not count against the pair (a, IP): it still has two.
        let t2 = LoginThrottle::new(2, 100, Duration::from_secs(60));
        t2.begin_at("a", IP, now).await.unwrap();
        t2.begin_at("a", IP, now).await.unwrap();
        assert!(t2.begin_at("a", IP, now).await.is_err());
    }

    #[tokio::test]
    async fn a_zero_limit_disables_throttling() {
        let t = LoginThrottle::new(0, 0, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..10 {
            assert!(t.begin_at("a", IP, now).await.is_ok());
        }
    }

    #[test]
    fn keys_hold_no_email() {
        let key = pair_key("someone@example.com", IP);
        assert!(!key.contains("someone"), "{key}");
        assert_eq!(key, pair_key("someone@example.com", IP));
        assert_ne!(key, pair_key("someone@example.com", OTHER));
    }
}
