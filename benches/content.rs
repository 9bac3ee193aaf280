//! Content benchmarks (issue 3): a 1 GB upload's memory and throughput against `cp` of the same
//! file on the same disk; 50 concurrent 1 MB image uploads' acknowledgement times; and a
//! filtered listing of 50 items out of 100,000 at 32 connections.
//!
//! Run with `make bench` (or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! content`). `TESSERA_BENCH_UPLOAD_MB` (default 1024), `TESSERA_BENCH_ITEMS` (100000) and
//! `TESSERA_BENCH_SECONDS` (10) change the run; `TESSERA_BENCH_PARTS` (default
//! `small,upload,list`) picks the parts. Figures are printed and written to
//! `target/bench-results/content.json`. The server runs in this process on its own threads; the
//! client shares the cores with it, so the figures are a floor. The models' processing is off (the
//! goals exclude it, and a transcription of the 1 GB WAV would run through every later part);
//! previews, which every upload triggers, stay on (they run at a lower priority). The concurrent
//! uploads are measured in rounds of 50 (`TESSERA_BENCH_SMALL_ROUNDS`, default 3; percentiles over
//! all of them) after a first round of other images: the server's steady state, with its database
//! connections open. The 1 GB upload and its `cp` baseline run in turns
//! (`TESSERA_BENCH_UPLOAD_ROUNDS`, default 3); the medians count. A round starts once the last
//! round's upload has its previews.
//!
//! Under a test harness (`--list`, or without `--bench`) this binary does nothing.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use secrecy::SecretString;
use serde_json::json;
use support::{env_or, load};
use tessera_events::content::{
    content_stream, ContentEvent, MediaFacts, Modality, Source, Uploaded,
};
use tessera_events::{
    AppendRequest, CommandContext, EventStore, ExpectedVersion, PgEventStore, UserId,
};
use tessera_testkit::server::serve_on_thread;
use tessera_testkit::signin::login;
use uuid::Uuid;

const PASSWORD: &str = tessera_testkit::signin::PASSWORD;

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    let upload_mb: u64 = env_or("TESSERA_BENCH_UPLOAD_MB", 1024);
    let items: usize = env_or("TESSERA_BENCH_ITEMS", 100_000);
    let seconds: u64 = env_or("TESSERA_BENCH_SECONDS", 10);
    let work = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-content");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let data_dir = work.join("data");

    let dd = data_dir.display().to_string();
    let served = serve_on_thread(
        32,
        &[
            ("data_dir", dd.as_str()),
            ("quotas.storage_bytes", "1000000000000"),
            ("quotas.uploads_per_day", "1000000"),
            ("content.max_audio_bytes", "4000000000"),
            ("processing.enabled", "false"),
        ],
        |app, pool| {
            let auth = app.auth().clone();
            async move {
                auth.create_admin("bench@example.com", SecretString::from(PASSWORD), "Bench")
                    .await
                    .expect("create user");
                pool
            }
        },
    )?;
    let (base, pool) = (served.base, served.value);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?;
        let signed_in = login(&client, &base, "bench@example.com", PASSWORD).await?;
        let (token, user) = (signed_in.access, signed_in.user_id);

        let parts: String = env_or("TESSERA_BENCH_PARTS", "small,upload,list".to_owned());
        let part = |p: &str| parts.split(',').any(|x| x.trim() == p);
        // The small uploads first: the 1 GB WAV's waveform (a preview, at low priority) and
        // its gigabyte in the page cache would otherwise still be in the way.
        let small = if part("small") {
            small_uploads(&client, &base, &token).await?
        } else {
            json!(null)
        };
        let big = if part("upload") {
            big_upload(&base, &token, &work, upload_mb).await?
        } else {
            json!(null)
        };
        let listing = if part("list") {
            listing(&client, &base, &token, &pool, user, items, seconds).await?
        } else {
            json!(null)
        };
        let report = json!({
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "upload_1gb": big,
            "concurrent_image_uploads": small,
            "filtered_listing": listing,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("content.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        let _ = std::fs::remove_dir_all(&work);
        anyhow::Ok(())
    })?;
    Ok(())
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A 16-bit stereo 48 kHz WAV of about `mb` MiB of quiet noise.
fn write_wav(path: &Path, mb: u64) -> Result<u64> {
    let data_len = mb * 1024 * 1024 - 44;
    let data_len = data_len - data_len % 4;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"RIFF")?;
    f.write_all(&(36 + data_len as u32).to_le_bytes())?;
    f.write_all(b"WAVEfmt ")?;
    f.write_all(&16u32.to_le_bytes())?;
    f.write_all(&1u16.to_le_bytes())?;
    f.write_all(&2u16.to_le_bytes())?;
    f.write_all(&48_000u32.to_le_bytes())?;
    f.write_all(&(48_000u32 * 4).to_le_bytes())?;
    f.write_all(&4u16.to_le_bytes())?;
    f.write_all(&16u16.to_le_bytes())?;
    f.write_all(b"data")?;
    f.write_all(&(data_len as u32).to_le_bytes())?;
    let mut x: u32 = 12345;
    let mut block = vec![0u8; 1 << 20];
    let mut left = data_len;
    while left > 0 {
        for b in block.chunks_mut(2) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b[0] = x as u8;
            b[1] = ((x >> 8) as u8) & 0x0f;
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(44 + data_len)
}

async fn big_upload(base: &str, token: &str, work: &Path, mb: u64) -> Result<serde_json::Value> {
    let rounds: usize = env_or("TESSERA_BENCH_UPLOAD_ROUNDS", 3usize).max(1);
    let src = work.join("big.wav");
    let size = write_wav(&src, mb)?;
    let before = rss();
    let peak = Arc::new(AtomicU64::new(before));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // Rounds of the baseline and the upload in turn, so that both meet the disk in the same
    // moods; the medians count.
    let (mut cp_secs, mut upload_secs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Other bytes each round (the first sample), or the upload would be a duplicate.
        {
            use std::io::{Seek, SeekFrom};
            let mut f = std::fs::OpenOptions::new().write(true).open(&src)?;
            f.seek(SeekFrom::Start(44))?;
            f.write_all(&(round as u32).to_le_bytes())?;
        }
        // Baseline: cp of the same file on the same disk, synced (page cache dropped by
        // neither). Each timed part starts with nothing left to write back, or it would pay for
        // what ran before it (the source file's own pages, the last upload's). Both take their
        // gigabyte of page cache from memory the last part freed: in a virtual machine, memory
        // the guest has not touched before can be many times slower to write the first time
        // (the host backs it then), and the first part of a round would pay for that alone.
        let copy = work.join("big-copy.wav");
        let cp = || -> Result<f64> {
            let _ = std::process::Command::new("sync").status();
            let t = Instant::now();
            let ok = std::process::Command::new("cp")
                .arg(&src)
                .arg(&copy)
                .status()?;
            anyhow::ensure!(ok.success(), "cp failed");
            let _ = std::process::Command::new("sync").status();
            let secs = t.elapsed().as_secs_f64();
            std::fs::remove_file(&copy)?;
            Ok(secs)
        };
        cp()?;
        cp_secs.push(cp()?);

        let (addr, auth, file) = (
            base.trim_start_matches("http://").to_owned(),
            format!("Bearer {token}"),
            src.clone(),
        );
        let _ = std::process::Command::new("sync").status();
        let t = Instant::now();
        let (status, body) =
            tokio::task::spawn_blocking(move || sendfile_upload(&addr, &auth, &file, size))
                .await??;
        upload_secs.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(status == 201, "upload failed: {status} {body}");
        // The next round starts once this upload's previews are made: its waveform reads and
        // decodes the whole gigabyte, and would otherwise run through the next round's parts.
        let id = serde_json::from_str::<serde_json::Value>(&body)?["id"]
            .as_str()
            .context("the upload's id")?
            .to_owned();
        previews_made(base, token, &id).await?;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let growth = peak.load(Ordering::Relaxed).saturating_sub(before);
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (cp, up) = (median(&cp_secs), median(&upload_secs));
    let ratio = cp / up;
    let mb_per_s = |secs: &Vec<f64>| {
        secs.iter()
            .map(|s| size as f64 / 1e6 / s)
            .collect::<Vec<_>>()
    };
    Ok(json!({
        "bytes": size,
        "rounds": rounds,
        "upload_secs": up,
        "upload_mb_per_s": size as f64 / 1e6 / up,
        "upload_mb_per_s_each": mb_per_s(&upload_secs),
        "baseline_cp_secs": cp,
        "baseline_cp_mb_per_s": size as f64 / 1e6 / cp,
        "baseline_cp_mb_per_s_each": mb_per_s(&cp_secs),
        "ratio_vs_cp": ratio,
        "rss_growth_mb": growth as f64 / 1e6,
        "note": "medians of the rounds; rss is the whole process: server, client and the file it streams",
        "pass": ratio >= 0.5 && growth < 64 * 1024 * 1024,
    }))
}

/// Waits (at most 5 minutes) until item `id`'s previews are no longer pending.
async fn previews_made(base: &str, token: &str, id: &str) -> Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let item: serde_json::Value = client
            .get(format!("{base}/api/content/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if item["previews"]["state"] != "pending" {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the previews of {id} were still pending after 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Posts `file` as a multipart upload over a plain HTTP/1.1 connection, the file's bytes sent
/// by the kernel (`sendfile`): the client shares the server's cores, and this way it spends
/// little of them. Returns the status and the body.
fn sendfile_upload(addr: &str, auth: &str, file: &Path, size: u64) -> Result<(u16, String)> {
    use std::io::Read;
    let boundary = "tessera-bench-boundary-7d9f2c";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() as u64 + size + tail.len() as u64;
    let mut socket = std::net::TcpStream::connect(addr)?;
    write!(
        socket,
        "POST /api/content HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n{head}"
    )?;
    let source = std::fs::File::open(file)?;
    let mut offset = 0u64;
    while offset < size {
        let left = usize::try_from(size - offset)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        let sent = rustix::fs::sendfile(&socket, &source, Some(&mut offset), left)?;
        anyhow::ensure!(sent > 0, "sendfile sent nothing at {offset} of {size}");
    }
    socket.write_all(tail.as_bytes())?;
    let mut response = String::new();
    socket.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// A PNG of about 1 MB that does not compress.
fn noisy_png(seed: u32) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ seed;
    let img = image::RgbImage::from_fn(600, 560, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

async fn small_uploads(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<serde_json::Value> {
    // A warm-up round of the same shape first (other images), outside the measurement: the
    // figures are the server's steady state (its pool's connections open, caches filled), not
    // its first burst.
    let rounds: u32 = env_or("TESSERA_BENCH_SMALL_ROUNDS", 3u32).max(1);
    let warm: Vec<Vec<u8>> = (1000..1050).map(noisy_png).collect();
    let sets: Vec<Vec<Vec<u8>>> = (0..rounds)
        .map(|r| (r * 100..r * 100 + 50).map(noisy_png).collect())
        .collect();
    for (d, ok) in concurrent_uploads(client, base, token, warm).await? {
        anyhow::ensure!(ok, "a warm-up upload failed after {d:?}");
    }
    // Measured rounds, their acknowledgements pooled. Between rounds, a pause shorter than the
    // quiet that previews wait for, so the rounds meet no preview work.
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut round_p95s = Vec::new();
    for files in sets {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut round = Vec::new();
        for (d, ok) in concurrent_uploads(client, base, token, files).await? {
            if ok {
                round.push(d);
            } else {
                errors += 1;
            }
        }
        round.sort_unstable();
        round_p95s.push(
            round
                .get(((round.len() as f64 * 0.95) as usize).min(round.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        );
        lat.extend(round);
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let p95 = pct(0.95);
    Ok(json!({
        "uploads": 50,
        "rounds": rounds,
        "p95_ms_each_round": round_p95s,
        "bytes_each": 1_000_000,
        "errors": errors,
        "p50_ms": pct(0.5),
        "p95_ms": p95,
        "max_ms": lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        "goal_p95_ms": 300,
        "pass": errors == 0 && p95 < 300.0,
    }))
}

/// Uploads `files` at once; each upload's acknowledgement time and whether it was a 201.
async fn concurrent_uploads(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    files: Vec<Vec<u8>>,
) -> Result<Vec<(Duration, bool)>> {
    let mut tasks = Vec::new();
    for (i, f) in files.into_iter().enumerate() {
        let client = client.clone();
        let url = format!("{base}/api/content");
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(f).file_name(format!("{i}.png")),
            );
            let t = Instant::now();
            let r = client
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await;
            let ok = matches!(&r, Ok(r) if r.status().as_u16() == 201);
            (t.elapsed(), ok)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await?);
    }
    Ok(out)
}

/// Appends `n` items for `owner` through the event store (as uploads would) and waits until the
/// content read model has them, then loads a filtered listing.
async fn listing(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    pool: &sqlx::PgPool,
    owner: Uuid,
    n: usize,
    seconds: u64,
) -> Result<serde_json::Value> {
    let store = PgEventStore::new(pool.clone());
    let ctx = CommandContext::new(Some(UserId(owner)));
    let modalities = [
        Modality::Image,
        Modality::Audio,
        Modality::Video,
        Modality::Text,
    ];
    let t = Instant::now();
    for batch in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut requests = Vec::new();
        for &i in batch {
            let id = Uuid::now_v7();
            let stream = content_stream(id);
            let sha = format!("{:064x}", i as u128 * 7919 + 1);
            let e = ContentEvent::Uploaded(Box::new(Uploaded {
                owner: UserId(owner),
                title: format!("item {i} {}", ["harbour", "forest", "city", "river"][i % 4]),
                filename: Some(format!("{i}.bin")),
                modality: modalities[i % 4],
                mime: "application/octet-stream".into(),
                extension: "bin".into(),
                size: 1000 + i as u64,
                sha256: sha.clone(),
                blob_key: format!("blobs/{}/{sha}", &sha[..2]),
                media: MediaFacts::default(),
                description: None,
                tags: if i % 10 == 0 {
                    vec!["starred".into()]
                } else {
                    vec![]
                },
                source: Source::Note,
                keep_location: false,
            }));
            requests.push(AppendRequest {
                stream: stream.clone(),
                expected: ExpectedVersion::NoStream,
                events: ctx.to_event_data(&stream, &[e], Some(UserId(owner)))?,
            });
        }
        store.append_many(requests).await?;
    }
    let appended = t.elapsed().as_secs_f64();
    loop {
        let c: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_content.items")
            .fetch_one(pool)
            .await?;
        if c as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let projected = t.elapsed().as_secs_f64();
    let url = format!("{base}/api/content?modality=image&limit=50");
    load(client, &url, Some(token), 32, Duration::from_secs(2)).await?;
    let f = load(client, &url, Some(token), 32, Duration::from_secs(seconds)).await?;
    Ok(json!({
        "items": n,
        "append_secs": appended,
        "projected_secs": projected,
        "query": "modality=image&limit=50",
        "connections": 32,
        "figures": f.to_json(),
        "goal_p99_ms": 15,
        "pass": f.errors == 0 && f.p99_ms < 15.0,
    }))
}
