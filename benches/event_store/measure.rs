//! What each run measures and how the figures are judged and printed.

use std::time::Duration;

use sqlx::{Executor, PgPool};

/// One timed run.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Measurement {
    pub(crate) events: u64,
    pub(crate) seconds: f64,
    pub(crate) events_per_s: f64,
    /// Per call (one append, one INSERT, one read), in milliseconds.
    pub(crate) calls: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

impl Measurement {
    pub(crate) fn new(events: u64, elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            ms(latencies[i])
        };
        let seconds = elapsed.as_secs_f64();
        Self {
            events,
            seconds,
            events_per_s: events as f64 / seconds.max(1e-9),
            calls: latencies.len() as u64,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            max_ms: latencies.last().copied().map_or(0.0, ms),
        }
    }

    pub(crate) fn line(&self, label: &str) -> String {
        if self.calls == 0 {
            return format!(
                "  {label:<34} {:>10.0} events/s  ({} events in {:.2} s)",
                self.events_per_s, self.events, self.seconds
            );
        }
        format!(
            "  {label:<34} {:>10.0} events/s  ({} events in {:.2} s; per call p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms)",
            self.events_per_s, self.events, self.seconds, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn best(runs: &[Measurement]) -> Measurement {
    runs.iter()
        .max_by(|a, b| a.events_per_s.total_cmp(&b.events_per_s))
        .cloned()
        .expect("at least one round")
}

/// Flushes dirty buffers so one measurement does not pay for the previous one's writes.
pub(crate) async fn checkpoint(pool: &PgPool) {
    if let Err(e) = pool.execute("CHECKPOINT").await {
        eprintln!("  (CHECKPOINT refused, continuing without: {e})");
    }
}

pub(crate) fn verdict(pass: bool) -> &'static str {
    if pass {
        "MET"
    } else {
        "MISSED"
    }
}
