//! What the HTTP benchmarks share beyond the test kit: settings from the environment and a
//! closed-loop load generator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

/// Whether this run is a benchmark run: false under a test harness (`--list`, or no
/// `--bench`), where the binary does nothing. When it is, points the test-database helper at
/// `TESSERA_BENCH_DATABASE_URL` (or the test database).
pub fn use_bench_database() -> Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") || !args.iter().any(|a| a == "--bench") {
        return Ok(false);
    }
    let test = tessera_testkit::TEST_DATABASE_URL;
    let url = std::env::var("TESSERA_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var(test))
        .context("set TESSERA_BENCH_DATABASE_URL (make bench does)")?;
    std::env::set_var(test, url);
    Ok(true)
}

/// A setting from the environment, or its default.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p`th percentile (0–100) of ascending `sorted` values; 0 when there are none.
pub fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// What one load run measured.
pub struct Figures {
    pub requests: usize,
    pub errors: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Figures {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_s": self.rps,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

/// `connections` workers send requests back to back for `duration`.
pub async fn load(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    connections: usize,
    duration: Duration,
) -> Result<Figures> {
    let started = Instant::now();
    let deadline = started + duration;
    let url: Arc<str> = url.into();
    let token: Option<Arc<str>> = token.map(Into::into);
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = client.get(&*url);
                if let Some(token) = &token {
                    req = req.bearer_auth(&**token);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let ms: Vec<f64> = all.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    Ok(Figures {
        requests: all.len(),
        errors,
        rps: all.len() as f64 / elapsed,
        p50_ms: percentile(&ms, 50),
        p99_ms: percentile(&ms, 99),
        max_ms: ms.last().copied().unwrap_or(0.0),
    })
}
