//! `make eval`: how right Tessera's findings are, on an evaluation set the eval builds itself
//! (`benches/eval/set.rs`), through the running product: every item is uploaded to a Tessera
//! started in this process and scored from what its API returns. The peers a user would
//! otherwise pick run on the same items in the same run: RapidOCR's Python pipeline and
//! faster-whisper with the same weights, both from PyPI (`deploy/local/eval-peers.sh`).
//!
//! It measures OCR character accuracy, line recall and kept word spaces; word error rate per
//! condition; label top-5 accuracy; the grounded share of descriptions (and every model sentence
//! the grounding check rejects); summaries' loop-free share, sentence endings and key-term
//! coverage; QA exact match; search recall@10, MRR and whether hits point to the right place, by
//! meaning, by words and fused; and the time per item. The table is printed and written to
//! `target/bench-results/eval.json`.
//!
//! Under a test harness (`--list`, or without `--bench`) this binary does nothing.

#[path = "eval/items.rs"]
mod items;
#[path = "eval/score.rs"]
mod score;
#[path = "eval/search.rs"]
mod search;
#[path = "eval/search_set.rs"]
mod search_set;
#[path = "eval/set.rs"]
mod set;
// Only its database setting is used here.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tessera_testkit::app::spawn_app_with;

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (python, photos) = peers_env(&root)?;
    let dir = root.join("target/eval-set");
    std::fs::create_dir_all(&dir)?;
    println!("building the evaluation set in {}", dir.display());
    let pages = set::pages(&dir)?;
    let clips = set::clips(&dir)?;
    let report = actix_web::rt::System::new().block_on(async {
        let app = spawn_app_with(&[
            ("processing.enabled", "true"),
            ("rate_limits.per_user", "1000000"),
            ("quotas.processing_seconds_per_day", "100000000"),
            ("quotas.uploads_per_day", "1000000"),
            ("quotas.storage_bytes", "100000000000"),
        ])
        .await;
        let eval = items::Eval::new(app).await;
        let mut report = serde_json::Map::new();
        report.insert(
            "cpus".into(),
            json!(std::thread::available_parallelism().map_or(0, |n| n.get())),
        );
        // `TESSERA_EVAL_ONLY=search` (or ocr, speech, images, summaries, qa) runs one part.
        let only = std::env::var("TESSERA_EVAL_ONLY").ok();
        let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
        if runs("ocr") {
            report.insert("ocr".into(), eval.ocr(&pages, &python, &root).await?);
        }
        if runs("speech") {
            report.insert("speech".into(), eval.speech(&clips, &python, &root).await?);
        }
        if runs("images") {
            report.insert("images".into(), eval.images(&photos, &pages).await?);
        }
        if runs("summaries") {
            report.insert("summaries".into(), eval.summaries().await?);
        }
        if runs("qa") {
            report.insert("qa".into(), eval.qa().await?);
        }
        if runs("search") {
            report.insert("search".into(), eval.search(&pages, &clips, &photos).await?);
        }
        anyhow::Ok(Value::Object(report))
    })?;
    let out = root.join("target/bench-results");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("eval.json"), serde_json::to_vec_pretty(&report)?)?;
    println!("\nwritten to target/bench-results/eval.json");
    Ok(())
}

/// The peers' Python and the photos' folder, installed if missing.
fn peers_env(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let out = Command::new(root.join("deploy/local/eval-peers.sh"))
        .output()
        .context("running deploy/local/eval-peers.sh")?;
    if !out.status.success() {
        bail!(
            "deploy/local/eval-peers.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8(out.stdout)?;
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(python), Some(photos)) => Ok((python.into(), photos.into())),
        _ => bail!("deploy/local/eval-peers.sh printed {text:?}"),
    }
}

/// Runs a peer over `files`; its JSON answer, one entry per file.
pub fn peer(python: &Path, root: &Path, args: &[&str], files: &[PathBuf]) -> Result<Vec<Value>> {
    let list = tempfile::NamedTempFile::new()?;
    std::fs::write(list.path(), serde_json::to_vec(files)?)?;
    let out = Command::new(python)
        .arg(root.join("benches/eval/peers.py"))
        .args(args)
        .arg(list.path())
        .output()
        .context("running benches/eval/peers.py")?;
    if !out.status.success() {
        bail!(
            "peers.py {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}
