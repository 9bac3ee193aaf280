//! Restart delays for supervised work: exponential, capped, and forgiven after a stable run.

use std::time::Duration;

/// How a supervisor restarts failed work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart after a failure.
    pub initial_backoff: Duration,
    /// The delay doubles per consecutive failure up to this cap.
    pub max_backoff: Duration,
    /// A run that lasted at least this long counts as healthy: the next failure starts over at
    /// `initial_backoff` instead of continuing the doubling.
    pub stable_after: Duration,
    /// How long a graceful shutdown waits for the work to stop before aborting it.
    pub shutdown_grace: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            stable_after: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The delay sequence of one supervised piece of work.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: RestartPolicy,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(policy: RestartPolicy) -> Self {
        let next = policy.initial_backoff;
        Self { policy, next }
    }

    /// The delay before restarting work that failed after running for `ran_for`.
    pub(crate) fn delay_after(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.policy.stable_after {
            self.next = self.policy.initial_backoff;
        }
        let delay = self.next.min(self.policy.max_backoff);
        self.next = (self.next * 2).min(self.policy.max_backoff);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets_after_a_stable_run() {
        let mut b = Backoff::new(RestartPolicy::default());
        let quick = Duration::from_millis(5);
        let delays: Vec<u128> = (0..10).map(|_| b.delay_after(quick).as_millis()).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert_eq!(b.delay_after(Duration::from_secs(31)).as_millis(), 100);
        assert_eq!(b.delay_after(quick).as_millis(), 200);
    }
}
