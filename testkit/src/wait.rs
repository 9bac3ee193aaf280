//! Polling for what happens in the background (projections, sessions, workers).

use std::future::Future;
use std::time::Duration;

/// How long anything eventually consistent may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// What a probe of [`eventually`] answers: `true` or `Some(value)` once the wait is over.
pub trait Settled {
    /// What the wait returns.
    type Value;
    /// `Some` once the condition holds.
    fn settled(self) -> Option<Self::Value>;
}

impl Settled for bool {
    type Value = ();
    fn settled(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Settled for Option<T> {
    type Value = T;
    fn settled(self) -> Option<T> {
        self
    }
}

/// Polls `probe` until it holds (`true` or `Some`); panics after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, probe: F) -> <Fut::Output as Settled>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Settled,
{
    eventually_within(PATIENCE, what, probe).await
}

/// [`eventually`] with its own patience, for work that takes longer (media tools, models) or
/// must be quicker.
pub async fn eventually_within<F, Fut>(
    patience: Duration,
    what: &str,
    mut probe: F,
) -> <Fut::Output as Settled>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Settled,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(v) = probe().await.settled() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        // Not faster: a probe over HTTP counts against the app's per-user rate limit.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
