//! `/v1/embeddings` for 32 sentences (issue 5, "Benchmarks"): requests back to back through the
//! HTTP API (API key, quota check, token counting, metering, base64 vectors as OpenAI's client
//! asks for them) against the bare pipeline in the same process: the same 32 sentences sent
//! straight to the node's embedding model instance, batched by it the same way. Goal: the API
//! keeps ≥ 0.8× the bare pipeline's sentences per second.
//!
//! Run with `make bench`, or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! openai_embeddings`. `TESSERA_BENCH_SECONDS` (default 6) is the time per measured loop.
//! Figures are printed and written to `target/bench-results/openai_embeddings.json`.
//!
//! Under a test harness (`--list`, or without `--bench`) this binary does nothing.

// Only the settings helpers are used here, not the load generator.
#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::future::join_all;
use serde_json::{json, Value};
use support::env_or;
use tessera_actors::models::Infer;
use tessera_models::text::Embedder;
use tessera_testkit::server::serve_on_thread;
use tessera_testkit::signin::api_key;

const GOAL_RATIO: f64 = 0.8;
const SENTENCES: usize = 32;

fn sentences() -> Vec<String> {
    let subjects = [
        "The lighthouse keeper",
        "A small cat",
        "Our new neighbour",
        "The orchestra",
    ];
    let actions = [
        "walked slowly along the harbour at dawn",
        "read every letter that arrived in the morning post",
        "painted the fence a bright shade of blue",
        "listened to the rain against the kitchen window",
        "baked bread for the whole street on Sunday",
        "counted the ships sailing past the old pier",
        "fixed the bicycle that had been broken for weeks",
        "wrote a long story about mountains and rivers",
    ];
    (0..SENTENCES)
        .map(|i| format!("{} {}.", subjects[i % 4], actions[i / 4]))
        .collect()
}

/// Runs `round` back to back for `seconds` (at least 3 times); returns sentences per second.
async fn rate<F, Fut>(seconds: Duration, mut round: F) -> Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    round().await?;
    let started = Instant::now();
    let mut n = 0u32;
    while n < 3 || started.elapsed() < seconds {
        round().await?;
        n += 1;
    }
    Ok(f64::from(n) * SENTENCES as f64 / started.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    let seconds = Duration::from_secs_f64(env_or("TESSERA_BENCH_SECONDS", 6.0));

    let served = serve_on_thread(
        10,
        &[
            ("quotas.processing_seconds_per_day", "10000000"),
            ("processing.enabled", "false"),
        ],
        |app, _| {
            let pipelines = app.processing().pipelines.clone();
            async move { pipelines }
        },
    )?;
    let (base, pipelines) = (served.base, served.value);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let key = api_key(&client, &base, "bench-v1@example.com").await?;
        let texts = sentences();

        let bare = || {
            let instance = pipelines.embeddings.instance.clone();
            let texts = texts.clone();
            async move {
                let asks = texts
                    .into_iter()
                    .map(|t| instance.send(Infer::<Embedder>(t)));
                for answer in join_all(asks).await {
                    answer?.map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                anyhow::Ok(())
            }
        };
        let api = |format: &'static str| {
            let client = client.clone();
            let url = format!("{base}/v1/embeddings");
            let key = key.clone();
            let body =
                json!({ "model": "minilm-l6-v2-int8", "input": texts, "encoding_format": format });
            move || {
                let client = client.clone();
                let url = url.clone();
                let key = key.clone();
                let body = body.clone();
                async move {
                    let got: Value = client
                        .post(url)
                        .bearer_auth(key)
                        .json(&body)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    anyhow::ensure!(
                        got["data"].as_array().map(Vec::len) == Some(SENTENCES),
                        "wrong answer: {got}"
                    );
                    anyhow::Ok(())
                }
            }
        };
        let bare_first = rate(seconds, bare).await?;
        let api_base64 = rate(seconds, api("base64")).await?;
        let api_float = rate(seconds, api("float")).await?;
        let bare_second = rate(seconds, bare).await?;
        let bare_rate = (bare_first + bare_second) / 2.0;
        let ratio = api_base64 / bare_rate;
        let report = json!({
            "sentences_per_request": SENTENCES,
            "seconds_per_loop": seconds.as_secs_f64(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "bare_pipeline_sentences_per_s": bare_rate,
            "bare_runs": [bare_first, bare_second],
            "api_base64_sentences_per_s": api_base64,
            "api_float_sentences_per_s": api_float,
            "ratio_base64": ratio,
            "ratio_float": api_float / bare_rate,
            "goal_ratio": GOAL_RATIO,
            "pass": ratio >= GOAL_RATIO,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("openai_embeddings.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        anyhow::Ok(())
    })?;
    Ok(())
}
