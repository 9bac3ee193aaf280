//! Load benchmarks of the event log (issue 2, "Benchmarks"), each against a fresh database and
//! each with its baseline measured in the same run:
//!
//! - `appends`: W concurrent writers (default 16) appending single events to distinct streams
//!   (`ExpectedVersion::NoStream`), and 100-event batches to one stream per writer
//!   (`ExpectedVersion::Exact`). Baseline: the same rows, with the same concurrency and
//!   batching, inserted by one plain multi-row `INSERT … SELECT FROM unnest(…)` per call
//!   (autocommit) into `bench_plain`, made with `CREATE TABLE bench_plain (LIKE events INCLUDING
//!   DEFAULTS)`: the same columns, types, NOT NULLs and defaults (its own `CACHE 1` sequence for
//!   `global_position`), and nothing else: no primary key, no unique indexes, no CHECKs, no
//!   triggers. A second, diagnostic table `bench_indexed (LIKE events INCLUDING ALL)` has the
//!   event table's primary key, unique indexes and CHECKs too (triggers are never copied; the
//!   event table's only fire on UPDATE/DELETE/TRUNCATE), which separates the cost of the indexes
//!   from the cost of the store's own work.
//! - `catchup`: 1,000,000 events written by one `generate_series` INSERT per 100,000 in the
//!   store's column layout, then read from position 0 by a [`Subscription`] in batches of 5,000.
//!   Baseline: a raw keyset scan, `SELECT <the same columns> FROM events WHERE global_position >
//!   $1 ORDER BY global_position LIMIT 5000`, decoded into the same Rust types.
//! - `rebuild`: the `users` read model rebuilt by `tessera_projections::rebuild` over 200,000
//!   `user.*` events (50,000 users × registered, password changed, quota set, role changed), with
//!   the runtime's default batch size. For scale, a no-op projection (no SQL per event) rebuilt
//!   over the same log gives the runtime's floor (reading, batch transactions, lease and swap).
//!
//! Run with `make bench`, or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! event_store [-- appends|catchup|rebuild …]` (filters, as for tests: a section runs when its
//! name contains one). The URL names a PostgreSQL server (pgvector installed) on which this
//! creates and drops its own databases. Sizes can be changed with `TESSERA_BENCH_*` variables
//! (see `Config`). Figures are printed and written to `target/bench-results/event_store.json`
//! (under `CARGO_TARGET_DIR` when that is set).
//!
//! Under a test harness (`cargo test --benches`, `cargo nextest run --all-targets`, which lists
//! tests with `--list`) this binary lists no tests and exits at once.

#[path = "event_store/appends.rs"]
mod appends;
#[path = "event_store/catchup.rs"]
mod catchup;
#[path = "event_store/fill.rs"]
mod fill;
#[path = "event_store/measure.rs"]
mod measure;
#[path = "event_store/rebuild.rs"]
mod rebuild;

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::Utc;
use serde_json::{json, Value};
use tessera_testkit::{TestDb, TEST_DATABASE_URL};

use appends::appends;
use catchup::catchup;
use rebuild::rebuild_bench;

/// The server the benchmarks create their databases on.
const BENCH_DATABASE_URL: &str = "TESSERA_BENCH_DATABASE_URL";
const NAME: &str = "event_store";
const SECTIONS: [&str; 3] = ["appends", "catchup", "rebuild"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A test harness asking for the list of tests: there are none.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // Run by `cargo test` or nextest rather than `cargo bench`: nothing to do.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    // Like a test harness's filters: a section runs when its name contains one of them.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&'static str> = SECTIONS
        .into_iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        println!("no benchmark matches {filters:?} (sections: {SECTIONS:?})");
        return;
    }
    let Ok(url) = std::env::var(BENCH_DATABASE_URL) else {
        eprintln!(
            "{BENCH_DATABASE_URL} is not set. Run `make bench`, which provisions PostgreSQL, or \
             point {BENCH_DATABASE_URL} at a PostgreSQL server with pgvector."
        );
        std::process::exit(2);
    };
    // The test kit's per-test databases read this variable; no other
    // thread exists yet.
    std::env::set_var(TEST_DATABASE_URL, url);

    let config = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run(config, selected)) {
        eprintln!("benchmark failed: {e:#}");
        std::process::exit(1);
    }
}

/// Sizes of the runs; each can be set with the variable named beside it.
#[derive(Debug, Clone, serde::Serialize)]
struct Config {
    /// `TESSERA_BENCH_WRITERS`: concurrent writers in the append benchmarks.
    writers: usize,
    /// `TESSERA_BENCH_SINGLE_EVENTS`: events appended one per call.
    single_events: u64,
    /// `TESSERA_BENCH_BATCHED_EVENTS`: events appended in batches.
    batched_events: u64,
    /// `TESSERA_BENCH_BATCH_SIZE`: events per batched append.
    batch_size: usize,
    /// `TESSERA_BENCH_CATCHUP_EVENTS`: events in the log read by the catch-up benchmark.
    catchup_events: u64,
    /// `TESSERA_BENCH_READ_BATCH`: events per catch-up read.
    read_batch: usize,
    /// `TESSERA_BENCH_REBUILD_EVENTS`: `user.*` events replayed by the rebuild benchmark.
    rebuild_events: u64,
    /// `TESSERA_BENCH_ROUNDS`: measurements of each figure; the best is reported.
    rounds: usize,
}

impl Config {
    fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            match std::env::var(name) {
                Ok(v) => v.trim().parse().unwrap_or_else(|_| {
                    eprintln!("ignoring {name}={v:?}: not a number");
                    default
                }),
                Err(_) => default,
            }
        }
        Self {
            writers: var("TESSERA_BENCH_WRITERS", 16usize).max(1),
            single_events: var("TESSERA_BENCH_SINGLE_EVENTS", 20_000u64).max(1),
            batched_events: var("TESSERA_BENCH_BATCHED_EVENTS", 200_000u64).max(1),
            batch_size: var("TESSERA_BENCH_BATCH_SIZE", 100usize).max(1),
            catchup_events: var("TESSERA_BENCH_CATCHUP_EVENTS", 1_000_000u64).max(1),
            read_batch: var("TESSERA_BENCH_READ_BATCH", 5_000usize).max(1),
            rebuild_events: var("TESSERA_BENCH_REBUILD_EVENTS", 200_000u64).max(4),
            rounds: var("TESSERA_BENCH_ROUNDS", 2usize).max(1),
        }
    }
}

async fn run(config: Config, selected: Vec<&'static str>) -> Result<()> {
    let wanted = |s: &str| selected.contains(&s);
    let mut report = json!({
        "benchmark": NAME,
        "started_at": Utc::now(),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "config": config,
    });
    {
        let db = TestDb::with_pool_size(1).await;
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&db.pool)
            .await?;
        let settings: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', \
             'synchronous_commit', 'fsync', 'wal_level', 'max_connections') ORDER BY name",
        )
        .fetch_all(&db.pool)
        .await?;
        println!("{version}");
        println!("settings: {settings:?}");
        report["postgres"] = json!(version);
        report["postgres_settings"] = Value::Object(
            settings
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
        db.pool.close().await;
    }
    let path = results_path();
    report["load_average_at_start"] = load_average();
    if wanted("appends") {
        report["appends"] = appends(&config).await.context("appends")?;
        write_report(&path, &report)?;
    }
    if wanted("catchup") {
        report["catchup"] = catchup(&config).await.context("catch-up read")?;
        write_report(&path, &report)?;
    }
    if wanted("rebuild") {
        report["rebuild"] = rebuild_bench(&config).await.context("projection rebuild")?;
        write_report(&path, &report)?;
    }
    report["load_average_at_end"] = load_average();
    write_report(&path, &report)?;
    println!("\nresults written to {}", path.display());
    Ok(())
}

/// The machine's 1, 5 and 15 minute load averages where the OS tells them (Linux): figures
/// taken while other work ran are not comparable.
fn load_average() -> Value {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map_or(Value::Null, |s| {
            json!(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        })
}

fn results_path() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    target.join("bench-results").join(format!("{NAME}.json"))
}

fn write_report(path: &PathBuf, report: &Value) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_string_pretty(report)? + "\n")
        .with_context(|| format!("write {}", path.display()))
}
