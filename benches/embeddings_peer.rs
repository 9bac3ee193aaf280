//! `/v1/embeddings` against the seed's own stack (issue "Search", embedding throughput): FastAPI
//! on uvicorn with onnxruntime serving the same int8 MiniLM files (`benches/peers/`, installed
//! from PyPI by `deploy/local/pyenv.sh`), started by this bench and measured side by side with
//! Tessera in one run, alternating: each round gives Tessera and then the peer the same closed-
//! loop load, at 8 and at 32 connections, each request 8 short sentences. Goal: ≥ 2× the peer's
//! requests per second and ≤ 0.5× its p95.
//!
//! Run with `make bench`, or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! embeddings_peer`. `TESSERA_BENCH_SECONDS` (default 5) is each turn's length; two rounds per
//! load. Figures are printed and written to `target/bench-results/embeddings_peer.json`.
//!
//! Under a test harness (`--list`, or without `--bench`) this binary does nothing.

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use support::{env_or, percentile};
use tessera_models::catalog::Catalog;
use tessera_testkit::server::serve_on_thread;
use tessera_testkit::signin::api_key;

const MODEL: &str = "minilm-l6-v2-int8";
const LOADS: [usize; 2] = [8, 32];
const ROUNDS: usize = 2;

/// Eight short sentences, different for each request number so no cache can answer.
fn batch(n: usize) -> Vec<String> {
    let things = [
        "the harbour",
        "a red kite",
        "the old mill",
        "our garden",
        "the night train",
    ];
    (0..8)
        .map(|i| {
            format!(
                "Request {n}, sentence {i}: we walked past {} at dawn.",
                things[(n + i) % things.len()]
            )
        })
        .collect()
}

/// The peer's process, stopped when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_peer(root: &std::path::Path) -> Result<(Peer, String)> {
    let out = Command::new(root.join("deploy/local/pyenv.sh"))
        .arg("bench-peers")
        .arg(root.join("benches/peers/requirements.txt"))
        .output()
        .context("running deploy/local/pyenv.sh")?;
    if !out.status.success() {
        bail!(
            "deploy/local/pyenv.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let python = String::from_utf8(out.stdout)?.trim().to_owned();
    let model = Catalog::shipped()
        .require(MODEL)
        .map_err(|e| anyhow::anyhow!("{e} (run `make models`)"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(python)
        .arg(root.join("benches/peers/embed_server.py"))
        .arg(&model)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .context("starting the peer")?;
    Ok((
        Peer(child),
        format!("http://127.0.0.1:{port}/v1/embeddings"),
    ))
}

/// `connections` closed-loop workers for `seconds`: requests per second and p95 in ms.
async fn load(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    connections: usize,
    seconds: Duration,
) -> Result<(f64, f64)> {
    let started = Instant::now();
    let deadline = started + seconds;
    let workers = (0..connections).map(|w| {
        let (client, url, key) = (client.clone(), url.to_owned(), key.map(str::to_owned));
        tokio::spawn(async move {
            let mut took = Vec::new();
            let mut n = w;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = client
                    .post(&url)
                    .json(&json!({ "model": MODEL, "input": batch(n) }));
                if let Some(key) = &key {
                    req = req.bearer_auth(key);
                }
                let got: Value = req.send().await?.error_for_status()?.json().await?;
                anyhow::ensure!(
                    got["data"].as_array().map(Vec::len) == Some(8),
                    "wrong answer"
                );
                took.push(t.elapsed().as_secs_f64() * 1000.0);
                n += connections;
            }
            anyhow::Ok(took)
        })
    });
    let mut all = Vec::new();
    for w in futures_util::future::join_all(workers).await {
        all.extend(w??);
    }
    all.sort_by(f64::total_cmp);
    Ok((
        all.len() as f64 / started.elapsed().as_secs_f64(),
        percentile(&all, 95),
    ))
}

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    let seconds = Duration::from_secs_f64(env_or("TESSERA_BENCH_SECONDS", 5.0));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (_peer, peer_url) = start_peer(&root)?;
    let served = serve_on_thread(
        10,
        &[
            ("quotas.processing_seconds_per_day", "100000000"),
            ("processing.enabled", "false"),
        ],
        |_, _| async {},
    )?;
    let base = served.base;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let report = rt.block_on(async move {
        let client = reqwest::Client::new();
        let key = api_key(&client, &base, "bench-peer@example.com").await?;
        let ours = format!("{base}/v1/embeddings");
        // The peer is up once it answers; both warm up.
        let up = Instant::now();
        while load(&client, &peer_url, None, 1, Duration::from_millis(200)).await.is_err() {
            anyhow::ensure!(up.elapsed() < Duration::from_secs(60), "the peer did not start");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        load(&client, &ours, Some(&key), 8, Duration::from_secs(1)).await?;
        let mut rows = Vec::new();
        for connections in LOADS {
            let (mut t_rps, mut t_p95, mut p_rps, mut p_p95) = (0.0, 0.0, 0.0, 0.0);
            for _ in 0..ROUNDS {
                let (rps, p95) = load(&client, &ours, Some(&key), connections, seconds).await?;
                t_rps += rps / ROUNDS as f64;
                t_p95 += p95 / ROUNDS as f64;
                let (rps, p95) = load(&client, &peer_url, None, connections, seconds).await?;
                p_rps += rps / ROUNDS as f64;
                p_p95 += p95 / ROUNDS as f64;
            }
            println!(
                "{connections:>2} connections: Tessera {t_rps:.1} req/s, p95 {t_p95:.0} ms; seed stack {p_rps:.1} req/s, p95 {p_p95:.0} ms: throughput {:.2}× (goal ≥ 2×), p95 {:.2}× (goal ≤ 0.5×)",
                t_rps / p_rps,
                t_p95 / p_p95
            );
            rows.push(json!({
                "connections": connections,
                "tessera": { "requests_per_s": t_rps, "p95_ms": t_p95 },
                "seed_stack": { "requests_per_s": p_rps, "p95_ms": p_p95 },
                "throughput_ratio": t_rps / p_rps,
                "p95_ratio": t_p95 / p_p95,
            }));
        }
        anyhow::Ok(json!({
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "sentences_per_request": 8,
            "seconds_per_turn": seconds.as_secs_f64(),
            "rounds": ROUNDS,
            "loads": rows,
        }))
    })?;
    let dir = root.join("target/bench-results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("embeddings_peer.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    Ok(())
}
