//! `GET /api/me` under load (issue 2, "Benchmarks"): 64 keep-alive connections, each sending
//! requests back to back with a valid access token, against the release server started in this
//! process on a fresh database. Baseline in the same run: `GET /health` (no auth, no database)
//! with the same client and connections — the ceiling the HTTP stack and client leave.
//!
//! Run with `make bench`, or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! api_me`. `TESSERA_BENCH_SECONDS` (default 10) and `TESSERA_BENCH_CONNECTIONS` (64) change the
//! run. Figures are printed and written to `target/bench-results/api_me.json`. The load
//! generator shares the machine's cores with the server, so the figures are a floor.
//!
//! Under a test harness (`--list`, or without `--bench`) this binary does nothing.

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use secrecy::SecretString;
use serde_json::json;
use support::{env_or, load};
use tessera_testkit::server::serve_on_thread;
use tessera_testkit::signin::login;

const PASSWORD: &str = tessera_testkit::signin::PASSWORD;
const GOAL_RPS: f64 = 5_000.0;
const GOAL_P99_MS: f64 = 20.0;

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    let seconds: u64 = env_or("TESSERA_BENCH_SECONDS", 10);
    let connections: usize = env_or("TESSERA_BENCH_CONNECTIONS", 64);

    let served = serve_on_thread(32, &[], |app, _| {
        let auth = app.auth().clone();
        async move {
            auth.create_admin("bench@example.com", SecretString::from(PASSWORD), "Bench")
                .await
                .expect("create user");
        }
    })?;
    let base = served.base;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .build()?;
        let token = login(&client, &base, "bench@example.com", PASSWORD)
            .await?
            .access;
        // Wait until the users read model has the account (the profile reads it).
        for _ in 0..100 {
            let r = client
                .get(format!("{base}/api/me"))
                .bearer_auth(&token)
                .send()
                .await?;
            if r.status().is_success() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let run = |path: &'static str, auth: Option<String>| {
            let client = client.clone();
            let url = format!("{base}{path}");
            async move {
                load(
                    &client,
                    &url,
                    auth.as_deref(),
                    connections,
                    Duration::from_secs(2),
                )
                .await?;
                load(
                    &client,
                    &url,
                    auth.as_deref(),
                    connections,
                    Duration::from_secs(seconds),
                )
                .await
            }
        };
        let me = run("/api/me", Some(token.clone())).await?;
        let health = run("/health", None).await?;
        let report = json!({
            "connections": connections,
            "seconds": seconds,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "me": me.to_json(),
            "baseline_health": health.to_json(),
            "ratio_vs_baseline": me.rps / health.rps,
            "goal_rps": GOAL_RPS,
            "goal_p99_ms": GOAL_P99_MS,
            "pass": me.rps >= GOAL_RPS && me.p99_ms <= GOAL_P99_MS && me.errors == 0,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("api_me.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        anyhow::Ok(())
    })?;
    Ok(())
}
