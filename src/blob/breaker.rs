//! A remote store that stops answering: a time limit on every call and on every wait for the
//! next bytes of a download, and a circuit breaker that turns a dead store into a fast, clear
//! `storage_unavailable` instead of requests, job inputs and upload assembly that hang.
//!
//! The breaker opens after [`FAILURES_TO_OPEN`] failures in a row (time-outs and the store's
//! own errors; a missing object is an answer, not a failure). While open, calls fail at once;
//! after the cool-down the next call goes through, and its outcome closes or reopens it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::BlobError;

/// Consecutive failures that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 5;

/// The breaker of one store.
#[derive(Debug)]
pub struct Breaker {
    cool_down: Duration,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    pub fn new(cool_down: Duration) -> Self {
        Self {
            cool_down,
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
        }
    }

    /// `Unavailable` while the breaker is open.
    pub fn check(&self) -> Result<(), BlobError> {
        let open = self
            .open_until
            .lock()
            .map(|until| until.is_some_and(|t| Instant::now() < t))
            .unwrap_or(false);
        if open {
            return Err(BlobError::Unavailable(
                "the blob store failed repeatedly; calls pause for a moment".into(),
            ));
        }
        Ok(())
    }

    /// Counts an outcome: a failure of the store toward opening, anything else closes.
    pub fn record<T>(&self, outcome: &Result<T, BlobError>) {
        match outcome {
            Err(BlobError::Backend(_) | BlobError::Unavailable(_)) => self.failed(),
            _ => {
                self.failures.store(0, Ordering::Relaxed);
            }
        }
    }

    fn failed(&self) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= FAILURES_TO_OPEN {
            if let Ok(mut until) = self.open_until.lock() {
                let now = Instant::now();
                if until.is_none_or(|t| t <= now) {
                    tracing::warn!(
                        failures = n,
                        cool_down_secs = self.cool_down.as_secs_f64(),
                        "the blob store keeps failing; calls fail fast for a while"
                    );
                }
                *until = Some(now + self.cool_down);
            }
        }
    }

    /// Runs `call` within `limit`, unless the breaker is open, and counts its outcome.
    pub async fn call<T, F>(&self, what: &str, limit: Duration, call: F) -> Result<T, BlobError>
    where
        F: Future<Output = Result<T, BlobError>>,
    {
        self.check()?;
        let outcome = match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) => Err(timed_out(what, limit)),
        };
        self.record(&outcome);
        outcome
    }
}

fn timed_out(what: &str, limit: Duration) -> BlobError {
    BlobError::Unavailable(format!(
        "the blob store did not answer a {what} within {:.0} s",
        limit.as_secs_f64()
    ))
}

/// A download's bytes, cut off with `Unavailable` when the store makes the reader wait more than
/// `stall` for the next bytes, or more than `budget` in all. Only time spent waiting on the store
/// counts: a reader that is slow itself is never cut off.
pub fn guarded<S>(
    inner: S,
    breaker: Arc<Breaker>,
    stall: Duration,
    budget: Duration,
) -> Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>
where
    S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin + 'static,
{
    struct State<S> {
        inner: S,
        waited: Duration,
        done: bool,
    }
    let state = State {
        inner,
        waited: Duration::ZERO,
        done: false,
    };
    futures_util::stream::unfold(state, move |mut s| {
        let breaker = breaker.clone();
        async move {
            if s.done {
                return None;
            }
            let limit = stall.min(budget.saturating_sub(s.waited));
            let started = Instant::now();
            let next = tokio::time::timeout(limit, s.inner.next()).await;
            s.waited += started.elapsed();
            match next {
                Ok(Some(item)) => {
                    if item.is_err() {
                        breaker.record(&item);
                        s.done = true;
                    }
                    Some((item, s))
                }
                Ok(None) => {
                    breaker.record(&Ok::<(), BlobError>(()));
                    None
                }
                Err(_) => {
                    let e = timed_out("download's next bytes", limit);
                    let item = Err(e);
                    breaker.record(&item);
                    s.done = true;
                    Some((item, s))
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> Result<(), BlobError> {
        Err(BlobError::Backend("down".into()))
    }

    #[tokio::test]
    async fn opens_after_failures_in_a_row_and_closes_after_a_success() {
        let b = Breaker::new(Duration::from_millis(200));
        for _ in 0..FAILURES_TO_OPEN - 1 {
            b.record(&backend());
        }
        assert!(b.check().is_ok(), "not yet");
        // A missing object is an answer: it resets the count.
        b.record(&Err::<(), _>(BlobError::NotFound("k".into())));
        for _ in 0..FAILURES_TO_OPEN {
            b.record(&backend());
        }
        assert!(matches!(b.check(), Err(BlobError::Unavailable(_))));
        let r = b
            .call("head", Duration::from_secs(1), async { Ok(1) })
            .await;
        assert!(
            matches!(r, Err(BlobError::Unavailable(_))),
            "fails fast while open"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let r = b
            .call("head", Duration::from_secs(1), async { Ok(1) })
            .await;
        assert_eq!(r.ok(), Some(1), "half open: one call goes through");
        assert!(b.check().is_ok(), "and its success closed the breaker");
    }

    #[tokio::test]
    async fn a_call_past_its_limit_is_unavailable() {
        let b = Breaker::new(Duration::from_secs(1));
        let r: Result<(), _> = b
            .call("head", Duration::from_millis(50), std::future::pending())
            .await;
        assert!(matches!(r, Err(BlobError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_stalled_download_is_cut_off_but_a_slow_reader_is_not() {
        let b = Arc::new(Breaker::new(Duration::from_secs(1)));
        // Two chunks, then nothing ever again.
        let stalls = futures_util::stream::iter([
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"cd")),
        ])
        .chain(futures_util::stream::pending());
        let mut s = guarded(
            Box::pin(stalls),
            b.clone(),
            Duration::from_millis(100),
            Duration::from_secs(10),
        );
        assert_eq!(s.next().await.unwrap().unwrap(), "ab");
        // The reader dawdles far past the stall limit: its own time does not count.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(s.next().await.unwrap().unwrap(), "cd");
        assert!(matches!(
            s.next().await,
            Some(Err(BlobError::Unavailable(_)))
        ));
        assert!(s.next().await.is_none());

        // A trickle that never stalls still ends at the budget.
        let trickle = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            Some((Ok(Bytes::from_static(b"x")), ()))
        });
        let mut s = guarded(
            Box::pin(trickle),
            b,
            Duration::from_millis(100),
            Duration::from_millis(300),
        );
        let mut got = 0;
        while let Some(item) = s.next().await {
            match item {
                Ok(_) => got += 1,
                Err(e) => {
                    assert!(matches!(e, BlobError::Unavailable(_)));
                    break;
                }
            }
        }
        assert!((4..=9).contains(&got), "{got}");
    }
}
