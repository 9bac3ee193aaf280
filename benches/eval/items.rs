//! Each part of the eval: its items through Tessera's API and through the peer, scored alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use tessera_actors::jobs::pipelines::compose::{
    DescriptionPrompt, DESCRIBE_MAX_TOKENS, DESCRIBE_SYSTEM,
};
use tessera_events::content::analysis::Label;
use tessera_testkit::app::TestApp;

use crate::score::{
    char_accuracy, coverage, ends_a_sentence, key_terms, line_recall, loops, norm_words,
    spaces_kept, wer,
};
use crate::set::{self, Clip, Page};

/// How long one item may take to be analysed.
const PATIENCE: Duration = Duration::from_secs(600);

pub struct Eval {
    pub(crate) app: TestApp,
    access: String,
    key: String,
}

fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

impl Eval {
    pub async fn new(app: TestApp) -> Self {
        let access = app.register("eval@example.com").await.access;
        let (_, key) = app.create_api_key(&access, "eval").await;
        Eval { app, access, key }
    }

    /// Uploads a file and waits for its analysis; the result and the seconds it took.
    async fn analysed(&self, bytes: Vec<u8>, name: &str) -> Result<(Value, f64)> {
        let started = Instant::now();
        // The same bytes again (a page is described after it was read) give the same item.
        let id = self.upload_as(&self.access, bytes, name).await?;
        self.wait(&id, started).await
    }

    /// Uploads a file as the user of `access`; the item's id.
    pub(crate) async fn upload_as(
        &self,
        access: &str,
        bytes: Vec<u8>,
        name: &str,
    ) -> Result<String> {
        let form = tessera_testkit::content::form(bytes, name, &[]);
        let r = self.app.upload_form(access, form, None).await;
        anyhow::ensure!(
            r.status == 201 || r.status == 200,
            "upload of {name}: {:?}",
            r.body
        );
        Ok(r.body["id"].as_str().context("an id")?.to_owned())
    }

    async fn wait(&self, id: &str, started: Instant) -> Result<(Value, f64)> {
        self.wait_as(&self.access, id, started).await
    }

    /// Waits for the analysis of the item `id` of the user of `access`; the result and the
    /// seconds since `started`.
    pub(crate) async fn wait_as(
        &self,
        access: &str,
        id: &str,
        started: Instant,
    ) -> Result<(Value, f64)> {
        loop {
            let r = self.app.get_as(&format!("/api/content/{id}"), access).await;
            let state = r.body["analysis"]["state"].as_str().unwrap_or("");
            if state == "ready" {
                let took = started.elapsed().as_secs_f64();
                return Ok((r.body["analysis"]["result"].clone(), took));
            }
            if state == "failed" {
                anyhow::bail!("the analysis of {id} failed: {}", r.body["analysis"]);
            }
            anyhow::ensure!(
                started.elapsed() < PATIENCE,
                "{id} was not analysed in time"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A chat completion through `/v1` (greedy).
    async fn complete(&self, system: &str, user: &str, max_tokens: usize) -> Result<String> {
        let body = json!({
            "model": "smollm2-135m-instruct",
            "messages": [{ "role": "system", "content": system }, { "role": "user", "content": user }],
            "temperature": 0,
            "max_tokens": max_tokens,
        });
        let r = self
            .app
            .call_as(Method::POST, "/v1/chat/completions", &self.key, Some(&body))
            .await;
        anyhow::ensure!(r.status == 200, "/v1/chat/completions: {:?}", r.body);
        Ok(r.body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// OCR of every page, by Tessera and by RapidOCR's defaults.
    pub async fn ocr(&self, pages: &[Page], python: &Path, root: &Path) -> Result<Value> {
        let truth = set::PAGE.join("\n");
        let mut rows = Vec::new();
        for page in pages {
            let name = page
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("page.png");
            let (result, took) = self.analysed(std::fs::read(&page.path)?, name).await?;
            let lines: Vec<String> = result["ocr"]["lines"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l["text"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let text = result["ocr"]["text"].as_str().unwrap_or_default();
            let document = result["statements"][0]["text"] == "A page of text.";
            rows.push(json!({
                "condition": page.condition,
                "char_accuracy": char_accuracy(&truth, text),
                "line_recall": line_recall(&set::PAGE, &lines),
                "spaces_kept": spaces_kept(&set::PAGE, text),
                "seen_as_document": document,
                "seconds": took,
            }));
        }
        let files: Vec<PathBuf> = pages.iter().map(|p| p.path.clone()).collect();
        let peer = crate::peer(python, root, &["ocr"], &files)?;
        for (row, p) in rows.iter_mut().zip(&peer) {
            let lines: Vec<String> = p["lines"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let text = p["text"].as_str().unwrap_or_default();
            row["rapidocr"] = json!({
                "char_accuracy": char_accuracy(&truth, text),
                "line_recall": line_recall(&set::PAGE, &lines),
                "spaces_kept": spaces_kept(&set::PAGE, text),
                "seconds": p["seconds"],
            });
        }
        let avg = |f: &dyn Fn(&Value) -> f64| mean(rows.iter().map(f));
        let summary = json!({
            "pages": rows.len(),
            "char_accuracy": avg(&|r| r["char_accuracy"].as_f64().unwrap_or(0.0)),
            "line_recall": avg(&|r| r["line_recall"].as_f64().unwrap_or(0.0)),
            "spaces_kept": avg(&|r| f64::from(u8::from(r["spaces_kept"] == true))),
            "seen_as_document": avg(&|r| f64::from(u8::from(r["seen_as_document"] == true))),
            "seconds_per_page": avg(&|r| r["seconds"].as_f64().unwrap_or(0.0)),
            "rapidocr": {
                "char_accuracy": avg(&|r| r["rapidocr"]["char_accuracy"].as_f64().unwrap_or(0.0)),
                "line_recall": avg(&|r| r["rapidocr"]["line_recall"].as_f64().unwrap_or(0.0)),
                "spaces_kept": avg(&|r| f64::from(u8::from(r["rapidocr"]["spaces_kept"] == true))),
                "seconds_per_page": avg(&|r| r["rapidocr"]["seconds"].as_f64().unwrap_or(0.0)),
            },
        });
        println!("\nOCR, {} pages (Tessera | RapidOCR defaults)", rows.len());
        for r in &rows {
            println!(
                "  {:<32} chars {:.3} | {:.3}   lines {:.2} | {:.2}   spaces {} | {}",
                r["condition"].as_str().unwrap_or(""),
                r["char_accuracy"].as_f64().unwrap_or(0.0),
                r["rapidocr"]["char_accuracy"].as_f64().unwrap_or(0.0),
                r["line_recall"].as_f64().unwrap_or(0.0),
                r["rapidocr"]["line_recall"].as_f64().unwrap_or(0.0),
                r["spaces_kept"],
                r["rapidocr"]["spaces_kept"],
            );
        }
        println!("  mean: {summary}");
        Ok(json!({ "summary": summary, "pages": rows }))
    }

    /// Speech recognition of every clip, by Tessera and by faster-whisper (same weights).
    pub async fn speech(&self, clips: &[Clip], python: &Path, root: &Path) -> Result<Value> {
        let mut rows = Vec::new();
        for clip in clips {
            let name = clip
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("clip.wav");
            let (result, took) = self.analysed(std::fs::read(&clip.path)?, name).await?;
            let heard = result["transcript"]["text"].as_str().unwrap_or_default();
            // The models' own time (voice activity and Whisper), beside upload-to-transcript.
            let model_ms: f64 = result["provenance"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["step"] == "audio.speech" || p["step"] == "audio.transcript")
                .filter_map(|p| p["run_ms"].as_f64())
                .sum();
            rows.push(json!({
                "condition": clip.condition,
                "truth": clip.truth,
                "heard": heard,
                "wer": wer(clip.truth, heard),
                "seconds": took,
                "model_seconds": model_ms / 1000.0,
                "audio_seconds": clip.seconds,
            }));
        }
        let model = tessera_models::catalog::Catalog::shipped()
            .require("whisper-tiny-en")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let files: Vec<PathBuf> = clips.iter().map(|c| c.path.clone()).collect();
        let peer = crate::peer(
            python,
            root,
            &["asr", model.to_str().context("path")?],
            &files,
        )?;
        for (row, p) in rows.iter_mut().zip(&peer) {
            let truth = row["truth"].as_str().unwrap_or_default().to_owned();
            for name in ["beam5", "greedy"] {
                let text = p[name]["text"].as_str().unwrap_or_default();
                row[format!("faster_whisper_{name}")] = json!({
                    "heard": text,
                    "wer": wer(&truth, text),
                    "seconds": p[name]["seconds"],
                });
            }
        }
        let mut by_condition = BTreeMap::new();
        println!(
            "\nSpeech, WER by condition (Tessera | faster-whisper beam 5 | greedy), same weights"
        );
        for condition in set::CONDITIONS {
            let of: Vec<&Value> = rows
                .iter()
                .filter(|r| r["condition"] == condition)
                .collect();
            let w = |key: &str| {
                mean(of.iter().map(|r| {
                    if key.is_empty() {
                        r["wer"].as_f64()
                    } else {
                        r[key]["wer"].as_f64()
                    }
                    .unwrap_or(1.0)
                }))
            };
            let rtf = |key: &str| {
                mean(of.iter().map(|r| {
                    let secs = if key.is_empty() {
                        &r["seconds"]
                    } else {
                        &r[key]["seconds"]
                    };
                    secs.as_f64().unwrap_or(0.0) / r["audio_seconds"].as_f64().unwrap_or(1.0)
                }))
            };
            let model_rtf = mean(of.iter().map(|r| {
                r["model_seconds"].as_f64().unwrap_or(0.0)
                    / r["audio_seconds"].as_f64().unwrap_or(1.0)
            }));
            let entry = json!({
                "wer": w(""),
                "faster_whisper_beam5_wer": w("faster_whisper_beam5"),
                "faster_whisper_greedy_wer": w("faster_whisper_greedy"),
                "real_time_factor_models": model_rtf,
                "real_time_factor_upload_to_transcript": rtf(""),
                "faster_whisper_beam5_real_time_factor": rtf("faster_whisper_beam5"),
                "faster_whisper_greedy_real_time_factor": rtf("faster_whisper_greedy"),
            });
            println!(
                "  {condition:<9} {:.3} | {:.3} | {:.3}   RTF models {:.3}, upload to transcript {:.3} | {:.3} | {:.3}",
                entry["wer"].as_f64().unwrap_or(0.0),
                entry["faster_whisper_beam5_wer"].as_f64().unwrap_or(0.0),
                entry["faster_whisper_greedy_wer"].as_f64().unwrap_or(0.0),
                model_rtf,
                entry["real_time_factor_upload_to_transcript"].as_f64().unwrap_or(0.0),
                entry["faster_whisper_beam5_real_time_factor"].as_f64().unwrap_or(0.0),
                entry["faster_whisper_greedy_real_time_factor"].as_f64().unwrap_or(0.0),
            );
            by_condition.insert(condition, entry);
        }
        Ok(json!({ "by_condition": by_condition, "clips": rows }))
    }

    /// Photos (labels, descriptions) and the pages' descriptions: top-5 accuracy, the grounded
    /// share of what is stated, and every model sentence the grounding check turns down.
    pub async fn images(&self, photos: &Path, pages: &[Page]) -> Result<Value> {
        let mut rows = Vec::new();
        let mut files: Vec<(PathBuf, &[usize])> = set::PHOTOS
            .iter()
            .map(|(name, truth)| (photos.join(name), *truth))
            .collect();
        files.extend(pages.iter().step_by(9).map(|p| (p.path.clone(), &[][..])));
        let (mut stated, mut supported) = (0usize, 0usize);
        let mut rejected = Vec::new();
        for (path, truth) in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("photo")
                .to_owned();
            let (result, took) = self
                .analysed(
                    std::fs::read(&path).with_context(|| path.display().to_string())?,
                    &name,
                )
                .await?;
            let labels: Vec<Label> = serde_json::from_value(result["labels"].clone())?;
            let top5 = labels.iter().take(5).any(|l| truth.contains(&l.index));
            let ocr_text = result["ocr"]["text"].as_str().unwrap_or_default();
            let prompt = DescriptionPrompt::new(&labels, ocr_text);
            // Every statement rests on a finding; model prose must pass the same check again.
            for s in result["statements"].as_array().into_iter().flatten() {
                stated += 1;
                let ok = s["source"]["kind"] != "model"
                    || prompt
                        .sources
                        .check(s["text"].as_str().unwrap_or(""))
                        .rejected
                        .is_empty();
                supported += usize::from(ok);
            }
            // What the model wrote for this picture, and what of it was left out.
            let prose = self
                .complete(DESCRIBE_SYSTEM, &prompt.user, DESCRIBE_MAX_TOKENS)
                .await?;
            for r in prompt.sources.check(&prose).rejected {
                rejected.push(
                    json!({ "image": name, "sentence": r.sentence, "unsupported": r.unsupported }),
                );
            }
            rows.push(json!({
                "image": name,
                "top5": if truth.is_empty() { Value::Null } else { json!(top5) },
                "labels": labels.iter().take(5).map(|l| format!("{} {:.2}", l.name, l.score)).collect::<Vec<_>>(),
                "description": result["description"],
                "seconds": took,
            }));
        }
        let judged: Vec<&Value> = rows.iter().filter(|r| !r["top5"].is_null()).collect();
        let top5 = mean(
            judged
                .iter()
                .map(|r| f64::from(u8::from(r["top5"] == true))),
        );
        let grounded = if stated == 0 {
            f64::NAN
        } else {
            supported as f64 / stated as f64
        };
        println!("\nImages: label top-5 accuracy {top5:.2} on {} photos; grounded share of {stated} statements {grounded:.3}", judged.len());
        for r in &rows {
            println!(
                "  {:<40} {}",
                r["image"].as_str().unwrap_or(""),
                r["description"]
            );
        }
        println!(
            "  model sentences the grounding check turned down ({}):",
            rejected.len()
        );
        for r in &rejected {
            println!(
                "    {}: {} (unsupported: {})",
                r["image"], r["sentence"], r["unsupported"]
            );
        }
        Ok(json!({
            "label_top5_accuracy": top5,
            "statements": stated,
            "grounded_share": grounded,
            "rejected_model_sentences": rejected,
            "items": rows,
        }))
    }

    /// Summaries of long texts: loop-free, ending at a sentence, covering the key terms.
    pub async fn summaries(&self) -> Result<Value> {
        let mut rows = Vec::new();
        for (i, text) in set::TEXTS.iter().enumerate() {
            let started = Instant::now();
            let r = self
                .app
                .call_as(
                    Method::POST,
                    "/api/content/notes",
                    &self.access,
                    Some(&json!({ "title": format!("Text {i}"), "text": text })),
                )
                .await;
            anyhow::ensure!(r.status == 201, "note: {:?}", r.body);
            let id = r.body["id"].as_str().context("an id")?.to_owned();
            let (result, took) = self.wait(&id, started).await?;
            let summary = result["summary"].as_str().unwrap_or_default();
            let terms = key_terms(text, 10);
            rows.push(json!({
                "summary": summary,
                "loop_free": !loops(summary),
                "ends_a_sentence": ends_a_sentence(summary),
                "key_terms": terms,
                "coverage": coverage(&terms, summary),
                "seconds": took,
            }));
        }
        let share = |key: &str| mean(rows.iter().map(|r| f64::from(u8::from(r[key] == true))));
        let out = json!({
            "texts": rows.len(),
            "loop_free_share": share("loop_free"),
            "ends_a_sentence_share": share("ends_a_sentence"),
            "key_term_coverage": mean(rows.iter().map(|r| r["coverage"].as_f64().unwrap_or(0.0))),
            "seconds_per_text": mean(rows.iter().map(|r| r["seconds"].as_f64().unwrap_or(0.0))),
            "items": rows,
        });
        println!(
            "\nSummaries: loop-free {:.2}, ending a sentence {:.2}, key-term coverage {:.2}",
            out["loop_free_share"].as_f64().unwrap_or(0.0),
            out["ends_a_sentence_share"].as_f64().unwrap_or(0.0),
            out["key_term_coverage"].as_f64().unwrap_or(0.0),
        );
        for r in &out["items"].as_array().cloned().unwrap_or_default() {
            println!("  {}", r["summary"]);
        }
        Ok(out)
    }

    /// Short factual questions through `/v1`: exact match (the answer is the expected word)
    /// and contains (the expected word is among the answer's).
    pub async fn qa(&self) -> Result<Value> {
        let mut rows = Vec::new();
        for (question, answers) in set::QUESTIONS {
            let started = Instant::now();
            let said = self.complete("Answer with one word.", question, 16).await?;
            let words = norm_words(&said);
            let exact = words.len() == 1 && answers.contains(&words[0].as_str());
            let contains = words.iter().any(|w| answers.contains(&w.as_str()));
            rows.push(json!({
                "question": question,
                "answer": said,
                "exact": exact,
                "contains": contains,
                "seconds": started.elapsed().as_secs_f64(),
            }));
        }
        let share = |key: &str| mean(rows.iter().map(|r| f64::from(u8::from(r[key] == true))));
        let out = json!({
            "questions": rows.len(),
            "exact_match": share("exact"),
            "contains_answer": share("contains"),
            "seconds_per_question": mean(rows.iter().map(|r| r["seconds"].as_f64().unwrap_or(0.0))),
            "items": rows,
        });
        println!(
            "\nQA through /v1: exact match {:.2}, answer contained {:.2}",
            out["exact_match"].as_f64().unwrap_or(0.0),
            out["contains_answer"].as_f64().unwrap_or(0.0)
        );
        Ok(out)
    }
}
