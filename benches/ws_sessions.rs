//! Live WebSocket sessions under load (issue 5, "Benchmarks"): 1,000 concurrent sessions on one
//! node. Measures, against a `tessera serve` child process on a fresh database:
//! - the server's resident memory per idle session (RSS of the child before and after opening
//!   the sessions);
//! - latency from event append to frame received, over every frame of every session, while
//!   events of the sessions' users are appended to the log by this process (the node follows
//!   the shared log as it does in production, woken by LISTEN/NOTIFY).
//!
//! Goals: p99 < 50 ms; < 64 KiB per idle session.
//!
//! Run with `make bench`, or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! ws_sessions`. `TESSERA_BENCH_WS_SESSIONS` (default 1000), `TESSERA_BENCH_WS_USERS` (100:
//! sessions are spread over them) and `TESSERA_BENCH_WS_EVENTS` (500, appended 50 per second)
//! change the run. Figures are printed and written to `target/bench-results/ws_sessions.json`.
//! The clients share the machine's cores with the server, so the figures are a floor.
//!
//! Under a test harness (`--list`, or without `--bench`) this binary does nothing.

// The HTTP load generator there is not used here.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::env_or;
use tessera_events::{
    EventData, EventStore, ExpectedVersion, Metadata, PgEventStore, StreamId, UserId,
};
use tessera_testkit::server::ServerProcess;
use tessera_testkit::signin::{register, Tokens};
use tessera_testkit::{TestDb, WsClient};

const GOAL_P99_MS: f64 = 50.0;
const GOAL_BYTES_PER_SESSION: f64 = 64.0 * 1024.0;
const EVENTS_PER_SECOND: u64 = 50;

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    raise_open_files_limit();
    let sessions: usize = env_or("TESSERA_BENCH_WS_SESSIONS", 1000);
    let users: usize = env_or("TESSERA_BENCH_WS_USERS", 100).clamp(1, sessions.max(1));
    let events: usize = env_or("TESSERA_BENCH_WS_EVENTS", 500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(sessions, users, events))
}

/// Each session is a socket here and in the server: lift the soft limit to the hard one.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                eprintln!("could not raise the open-files limit");
            }
        }
    }
}

/// The resident set of a process, in bytes.
fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS")?;
    Ok(kb * 1024)
}

/// A session of `token`'s user, its `ready` frame read.
async fn open(url: &str, token: &str) -> Result<WsClient> {
    let mut socket = WsClient::connect_bearer(url, Some(token)).await?;
    match socket.next_frame(Duration::from_secs(30)).await {
        Some(Ok(text)) => {
            let frame: Value = serde_json::from_str(&text)?;
            if frame["type"] == "ready" {
                return Ok(socket);
            }
            bail!("expected ready, got {frame}");
        }
        other => bail!("no ready frame: {other:?}"),
    }
}

/// Opens `count` sessions, `parallel` at a time, for users in turn.
async fn open_many(
    url: &str,
    users: &[Arc<Tokens>],
    count: usize,
    parallel: usize,
) -> Result<Vec<(usize, WsClient)>> {
    let mut out = Vec::with_capacity(count);
    let mut pending = futures_util::stream::iter((0..count).map(|i| {
        let user = users[i % users.len()].clone();
        async move { open(url, &user.access).await.map(|s| (i % users.len(), s)) }
    }))
    .buffer_unordered(parallel);
    while let Some(socket) = pending.next().await {
        out.push(socket?);
    }
    Ok(out)
}

async fn run(sessions: usize, user_count: usize, events: usize) -> Result<()> {
    let db = TestDb::with_pool_size(8).await;
    let mut server = ServerProcess::start(
        env!("CARGO_BIN_EXE_tessera"),
        &db.url(),
        &[
            ("TESSERA_RATE_LIMITS__ENABLED", "false"),
            ("TESSERA_AUTH__REGISTRATIONS_PER_ADDRESS", "1000000"),
        ],
    )
    .await
    .context("start tessera serve")?;
    let pid = server.child.id().context("server pid")?;
    let (base, url) = (server.base.clone(), server.ws_url("/api/ws"));
    let client = reqwest::Client::new();

    let mut users = Vec::with_capacity(user_count);
    let mut registering = futures_util::stream::iter((0..user_count).map(|i| {
        let email = format!("ws-bench-{i}@example.com");
        let (client, base) = (&client, &base);
        async move { register(client, base, &email, tessera_testkit::signin::PASSWORD).await }
    }))
    .buffer_unordered(4);
    while let Some(user) = registering.next().await {
        users.push(Arc::new(user?));
    }

    // Warm the server's pools and allocator with a few sessions, then measure.
    drop(open_many(&url, &users, 50.min(sessions), 25).await?);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss_bytes(pid)?;
    let opening = Instant::now();
    let sockets = open_many(&url, &users, sessions, 50).await?;
    let open_s = opening.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = rss_bytes(pid)?;
    let per_session = rss_after.saturating_sub(rss_before) as f64 / sessions.max(1) as f64;

    // Each session counts the frames of its user's events.
    let per_user: Vec<usize> = (0..user_count)
        .map(|u| (0..events).filter(|seq| seq % user_count == u).count())
        .collect();
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(events as u64 / EVENTS_PER_SECOND + 30);
    let mut readers = Vec::with_capacity(sockets.len());
    for (user, mut socket) in sockets {
        let expected = per_user[user];
        readers.push(tokio::spawn(async move {
            let mut got: Vec<(u64, Instant)> = Vec::with_capacity(expected);
            while got.len() < expected {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match socket.next_frame(left).await {
                    Some(Ok(text)) => {
                        let at = Instant::now();
                        let frame: Value = match serde_json::from_str(&text) {
                            Ok(frame) => frame,
                            Err(_) => continue,
                        };
                        if let Some(seq) = frame["payload"]["bench_seq"].as_u64() {
                            got.push((seq, at));
                        }
                    }
                    _ => break,
                }
            }
            got
        }));
    }

    let store = PgEventStore::new(db.pool.clone());
    let mut sent = Vec::with_capacity(events);
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / EVENTS_PER_SECOND));
    for seq in 0..events {
        tick.tick().await;
        let owner = users[seq % user_count].user_id;
        let data = EventData::new(
            "job.progress",
            json!({"bench_seq": seq, "attempt": 1, "stage": "bench", "percent": 50}),
        )
        .with_metadata(Metadata {
            owner: Some(UserId(owner)),
            ..Default::default()
        });
        sent.push(Instant::now());
        store
            .append(
                &StreamId::for_entity("job", owner),
                ExpectedVersion::Any,
                vec![data],
            )
            .await?;
    }

    let mut latencies = Vec::new();
    for reader in readers {
        for (seq, at) in reader.await? {
            if let Some(t0) = sent.get(seq as usize) {
                latencies.push(at.saturating_duration_since(*t0));
            }
        }
    }
    let expected_frames: usize = (0..sessions).map(|i| per_user[i % user_count]).sum();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let (p50, p99, max) = (pct(0.50), pct(0.99), pct(1.0));
    let report = json!({
        "sessions": sessions,
        "users": user_count,
        "events": events,
        "events_per_s": EVENTS_PER_SECOND,
        "frames_expected": expected_frames,
        "frames_received": latencies.len(),
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latency_max_ms": max,
        "open_sessions_s": open_s,
        "server_rss_before_bytes": rss_before,
        "server_rss_after_bytes": rss_after,
        "server_bytes_per_idle_session": per_session,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "goal_p99_ms": GOAL_P99_MS,
        "goal_bytes_per_session": GOAL_BYTES_PER_SESSION,
        "pass": p99 < GOAL_P99_MS
            && per_session < GOAL_BYTES_PER_SESSION
            && latencies.len() == expected_frames,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("ws_sessions.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    server.child.kill().await.ok();
    drop(db);
    Ok(())
}
