//! Worst-case requests (issue 18, "Figures"), against the server started in this process:
//! - every list- and form-reading endpoint sent its worst case (the bodies the hostile-input
//!   test sends, prepared before timing): the server's CPU time per request (the process's CPU
//!   time around the request; the client's share is sending prepared bytes). Goal < 100 ms.
//! - 32 of the heaviest worst cases at once: how much the process's peak RSS grows. Goal
//!   < 64 MB.
//! - quota under pressure: a user with 1 MB of storage opens 50 resumable uploads and writes 50
//!   notes at once; stored and reserved bytes stay within the quota, and every note that was
//!   acknowledged is there.
//!
//! Run with `make bench`, or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! hostile`. Figures are printed and written to `target/bench-results/hostile.json`. Under a
//! test harness (`--list`, or without `--bench`) this binary does nothing.

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tessera_testkit::server::serve_on_thread;
use tessera_testkit::signin::{register, PASSWORD};
use uuid::Uuid;

const GOAL_CPU_MS: f64 = 100.0;
const GOAL_RSS_MB: f64 = 64.0;
const QUOTA: u64 = 1_000_000;

/// The process's CPU time (user and system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// `VmHWM` or `VmRSS` of this process, in MB.
fn memory_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A prepared request: method path, content type, body, and whether it takes the API key.
struct Case {
    name: &'static str,
    path: String,
    content_type: String,
    /// Shared, so that sending it again copies nothing (the client runs in this process: its
    /// copies would count in the RSS measured).
    body: bytes::Bytes,
    by_key: bool,
}

fn json_case(name: &'static str, path: &str, body: Value, by_key: bool) -> Case {
    Case {
        name,
        path: path.to_owned(),
        content_type: "application/json".into(),
        body: body.to_string().into_bytes().into(),
        by_key,
    }
}

/// A multipart body of `parts` (name, value) text parts.
fn form_case(name: &'static str, path: &str, parts: &[(&str, String)], by_key: bool) -> Case {
    let boundary = "hostileBoundary7f3a";
    let mut body = Vec::new();
    for (n, v) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Case {
        name,
        path: path.to_owned(),
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body: body.into(),
        by_key,
    }
}

fn ids(n: usize) -> String {
    (0..n)
        .map(|_| Uuid::new_v4().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn cases(messages: &str) -> Vec<Case> {
    let repeated = |name: &str, value: &str, n: usize| -> Vec<(&'static str, String)> {
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        (0..n).map(|_| (name, value.to_owned())).collect()
    };
    vec![
        form_case(
            "message form: 10,000 `attachments` parts",
            messages,
            &repeated("attachments", &ids(1), 10_000),
            false,
        ),
        form_case(
            "message form: 1,500 ids in one field",
            messages,
            &[("attachments", ids(1500))],
            false,
        ),
        form_case(
            "upload form: 10,000 `tags` parts",
            "/api/content",
            &repeated("tags", "a", 10_000),
            false,
        ),
        form_case(
            "upload form: one 64 KiB `tags` field",
            "/api/content",
            &[("tags", "t,".repeat(32 * 1024))],
            false,
        ),
        json_case(
            "note: 1,000,000 tags (6 MB)",
            "/api/content/notes",
            json!({"title": "n", "text": "x", "tags": vec!["t"; 1_000_000]}),
            false,
        ),
        json_case(
            "message: 1,000 attachments",
            messages,
            json!({"text": "hi", "attachments": ids(1000).split(',').collect::<Vec<_>>()}),
            false,
        ),
        json_case(
            "/v1/embeddings: 1,000,000 inputs (4 MB)",
            "/v1/embeddings",
            json!({"model": "minilm-l6-v2-int8", "input": vec!["a"; 700_000]}),
            true,
        ),
        json_case(
            "/v1/embeddings: 2,000,000 token ids",
            "/v1/embeddings",
            json!({"model": "minilm-l6-v2-int8", "input": [vec![0u8; 2_000_000]]}),
            true,
        ),
        json_case(
            "/v1/chat: 4 MB `metadata` of numbers",
            "/v1/chat/completions",
            json!({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}], "metadata": {"x": vec![0u8; 2_000_000]}}),
            true,
        ),
        json_case(
            "/v1/chat: 50,000 messages",
            "/v1/chat/completions",
            json!({"model": "smollm2-135m-instruct", "messages": vec![json!({"role": "user", "content": ""}); 50_000]}),
            true,
        ),
        form_case(
            "/v1/transcriptions: 10,000 parts",
            "/v1/audio/transcriptions",
            &repeated("include[]", "x", 10_000),
            true,
        ),
    ]
}

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    let rounds: usize = support::env_or("TESSERA_BENCH_ROUNDS", 10);
    let quota = QUOTA.to_string();
    let served = serve_on_thread(
        32,
        &[
            ("quotas.storage_bytes", quota.as_str()),
            ("content.max_open_uploads", "100"),
        ],
        |_, _| async {},
    )?;
    let base = served.base.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = reqwest::Client::builder().build()?;
        let user = register(&client, &base, "hostile@example.com", PASSWORD).await?;
        let key: Value = client
            .post(format!("{base}/api/me/api-keys"))
            .bearer_auth(&user.access)
            .json(&json!({"name": "bench"}))
            .send()
            .await?
            .json()
            .await?;
        let key = key["key"].as_str().context("an api key")?.to_owned();
        let chat: Value = client
            .post(format!("{base}/api/conversations"))
            .bearer_auth(&user.access)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        let messages = format!(
            "/api/conversations/{}/messages",
            chat["id"].as_str().context("a conversation")?
        );
        let send = |case: &Case| {
            let credential = if case.by_key { &key } else { &user.access };
            client
                .post(format!("{base}{}", case.path))
                .bearer_auth(credential)
                .header("content-type", &case.content_type)
                .body(case.body.clone())
                .send()
        };

        let mut per_case = Vec::new();
        for case in cases(&messages) {
            let mut cpu = Vec::new();
            let mut status = 0;
            for _ in 0..rounds {
                let started = cpu_time();
                let r = send(&case).await?;
                status = r.status().as_u16();
                let _ = r.bytes().await?;
                cpu.push((cpu_time() - started).as_secs_f64() * 1000.0);
            }
            cpu.sort_by(f64::total_cmp);
            let p50 = support::percentile(&cpu, 50);
            let max = cpu.last().copied().unwrap_or(0.0);
            println!(
                "{:<48} {:>4}  body {:>6.1} MB  cpu p50 {:>6.1} ms  max {:>6.1} ms",
                case.name,
                status,
                case.body.len() as f64 / 1e6,
                p50,
                max
            );
            per_case.push(json!({"case": case.name, "status": status,
                "body_bytes": case.body.len(), "cpu_ms_p50": p50, "cpu_ms_max": max}));
        }

        // Memory: 32 of the heaviest at once.
        let heavy = cases(&messages)
            .into_iter()
            .max_by_key(|c| c.body.len())
            .context("a case")?;
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = memory_mb("VmRSS:");
        let started = Instant::now();
        let replies = futures_util::future::join_all((0..32).map(|_| send(&heavy))).await;
        let ok = replies.iter().filter(|r| r.is_ok()).count();
        let peak = memory_mb("VmHWM:");
        let growth = (peak - before).max(0.0);
        println!(
            "32 × {:<43} {ok}/32 answered in {:.1} s; peak RSS +{growth:.1} MB (goal < {GOAL_RSS_MB})",
            heavy.name,
            started.elapsed().as_secs_f64()
        );

        // Quota under pressure.
        let pressed = register(&client, &base, "pressed@example.com", PASSWORD).await?;
        let starts = (0..50).map(|_| {
            client
                .post(format!("{base}/api/uploads"))
                .bearer_auth(&pressed.access)
                .json(&json!({"length": 100_000}))
                .send()
        });
        let notes = (0..50).map(|i| {
            client
                .post(format!("{base}/api/content/notes"))
                .bearer_auth(&pressed.access)
                .json(&json!({"title": "n", "text": format!("{i} {}", "x".repeat(50_000))}))
                .send()
        });
        let (starts, notes) = futures_util::future::join(
            futures_util::future::join_all(starts),
            futures_util::future::join_all(notes),
        )
        .await;
        let opened = starts
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|r| r.status().is_success()))
            .count();
        let mut acknowledged = Vec::new();
        for r in notes.into_iter().flatten() {
            if r.status().is_success() {
                let v: Value = r.json().await?;
                acknowledged.push(v["id"].as_str().unwrap_or_default().to_owned());
            }
        }
        let mut kept = 0;
        for id in &acknowledged {
            let r = client
                .get(format!("{base}/api/content/{id}"))
                .bearer_auth(&pressed.access)
                .send()
                .await?;
            kept += usize::from(r.status().is_success());
        }
        let usage: Value = client
            .get(format!("{base}/api/usage"))
            .bearer_auth(&pressed.access)
            .send()
            .await?
            .json()
            .await?;
        let held = usage["stored_bytes"].as_u64().unwrap_or(0)
            + usage["reserved_bytes"].as_u64().unwrap_or(0);
        println!(
            "quota {QUOTA} B: {opened} uploads opened, {} notes acknowledged ({kept} kept); \
             stored + reserved = {held} B (within: {})",
            acknowledged.len(),
            held <= QUOTA
        );

        let worst_cpu = per_case
            .iter()
            .filter_map(|c| c["cpu_ms_max"].as_f64())
            .fold(0.0, f64::max);
        let results = json!({
            "cases": per_case,
            "worst_cpu_ms": worst_cpu,
            "goal_cpu_ms": GOAL_CPU_MS,
            "memory": {"case": heavy.name, "concurrent": 32, "answered": ok,
                       "peak_rss_growth_mb": growth, "goal_mb": GOAL_RSS_MB},
            "quota": {"quota_bytes": QUOTA, "uploads_opened": opened,
                      "notes_acknowledged": acknowledged.len(), "notes_kept": kept,
                      "stored_plus_reserved": held, "within": held <= QUOTA},
        });
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("hostile.json"), serde_json::to_string_pretty(&results)?)?;
        anyhow::Ok(())
    })?;
    drop(served);
    Ok(())
}
