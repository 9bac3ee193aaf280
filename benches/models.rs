//! Model benchmarks (`make bench`): every figure against its baseline in the same run.
//!
//! - Each ONNX model: requests per second through its `ModelInstance` actor, one at a time,
//!   against a bare loop calling the same model on the same input (goal ≥ 0.9×).
//! - Embeddings at concurrency 16 through the actor with dynamic batching, against the bare
//!   batch-of-one rate (goal ≥ 2×).
//! - Chat: decode tokens/s and first-token time through the service's chat model, against a
//!   bare llama-cpp-2 loop on the same model, prompt and threads (goals ≥ 0.9×, ≤ +20 ms).
//! - Speech recognition real-time factor on 10 s of speech (goal ≤ 0.1) and speech synthesis
//!   real-time factor (goal ≤ 0.2).
//! - Cold load of every model (goals: ONNX < 1.5 s, GGUF < 1 s).
//!
//! Figures are printed and written to `target/bench-results/models.json`.
//! `TESSERA_BENCH_SECONDS` (default 4) is the time per measured loop.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use anyhow::{Context as _, Result};
use futures_util::future::join_all;
use serde_json::{json, Value};
use tessera_actors::models::{Infer, InstanceOptions, Loader, ModelInstance};
use tessera_models::audio::{to_16k, SileroVad, Whisper};
use tessera_models::catalog::Catalog;
use tessera_models::runtime::llama::{ChatMessage, GenerateOptions, LlamaModel, LlamaOptions};
use tessera_models::runtime::{Model, SessionOptions};
use tessera_models::speech::{PiperVoice, SynthOptions, SynthRequest};
use tessera_models::text::chat::{ChatModel, ChatRequest};
use tessera_models::text::Embedder;
use tessera_models::vision::{decode_image, Classifier, ImageLimits, Ocr};
use tokio::sync::Semaphore;

#[path = "support/llama.rs"]
mod llama;
use llama::bare_llama;

fn seconds() -> Duration {
    let s: f64 = std::env::var("TESSERA_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4.0);
    Duration::from_secs_f64(s)
}

fn dir(id: &str) -> Result<PathBuf> {
    Catalog::shipped()
        .require(id)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Calls `f` back to back for `seconds()` (at least 3 times); returns calls per second.
fn bare_rate(mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let budget = seconds();
    let started = Instant::now();
    let mut n = 0u32;
    while n < 3 || started.elapsed() < budget {
        f();
        n += 1;
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

/// The same through the actor, one request at a time.
async fn actor_rate<M: Model>(
    instance: &Addr<ModelInstance<M>>,
    make: impl Fn() -> M::Request,
) -> f64 {
    let _ = instance.send(Infer::<M>(make())).await;
    let budget = seconds();
    let started = Instant::now();
    let mut n = 0u32;
    while n < 3 || started.elapsed() < budget {
        let r = instance.send(Infer::<M>(make())).await;
        assert!(matches!(r, Ok(Ok(_))), "inference failed");
        n += 1;
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

fn instance<M: Model>(name: &str, loader: Loader<M>, window: Duration) -> Addr<ModelInstance<M>> {
    ModelInstance::start(
        name,
        loader,
        InstanceOptions {
            batch_window: window,
            ..InstanceOptions::default()
        },
        Arc::new(Semaphore::new(2)),
        None,
    )
}

/// One ONNX model: load time, bare rate, actor rate.
async fn onnx_model<M, L>(id: &str, load: L, request: impl Fn() -> M::Request) -> Result<Value>
where
    M: Model,
    L: Fn() -> Result<M, tessera_models::runtime::RuntimeError> + Send + Sync + 'static,
{
    let t = Instant::now();
    let mut model = load().with_context(|| format!("loading {id}"))?;
    let load_s = t.elapsed().as_secs_f64();
    let bare = bare_rate(|| {
        let r = model.run_batch(vec![request()]);
        assert!(r.into_iter().all(|x| x.is_ok()), "{id}: inference failed");
    });
    drop(model);
    let actor = instance(id, Arc::new(load), Duration::ZERO);
    let through = actor_rate(&actor, &request).await;
    let ratio = through / bare;
    println!("{id}: load {load_s:.3} s, bare {bare:.1}/s, actor {through:.1}/s ({ratio:.2}×)");
    Ok(json!({
        "cold_load_s": load_s,
        "bare_per_s": bare,
        "actor_per_s": through,
        "ratio": ratio,
        "pass": ratio >= 0.9 && load_s < 1.5,
    }))
}

/// Ten seconds of speech at 16 kHz, by the Piper voice.
fn ten_seconds_of_speech() -> Result<Vec<f32>> {
    let mut voice = PiperVoice::load(&dir("piper-en-us-joe-medium")?, &SessionOptions::default())?;
    let text = "The museum opens at nine every morning and closes at six in the evening. \
                Visitors can see paintings, old maps, and a small garden behind the main hall.";
    let speech = voice.synthesize(text, &SynthOptions::default())?;
    let mut pcm = to_16k(&speech.samples, speech.sample_rate)?;
    pcm.resize(160_000, 0.0);
    Ok(pcm)
}

fn text_image() -> Result<image::DynamicImage> {
    let out = tempfile::Builder::new()
        .suffix(".png")
        .tempfile()?
        .into_temp_path();
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=c=white:s=800x240")
        .arg("-vf")
        .arg("drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:text='Quarterly report 2026':fontsize=44:fontcolor=black:x=40:y=90")
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .context("ffmpeg")?;
    anyhow::ensure!(status.success(), "ffmpeg failed");
    Ok(image::open(&out)?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn chat_figures() -> Result<Value> {
    let path = dir("smollm2-135m-instruct")?.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let options = LlamaOptions {
        n_threads: 1,
        n_threads_batch: 1,
        ..LlamaOptions::default()
    };
    let t = Instant::now();
    let model = LlamaModel::load(&path, &options)?;
    let load_s = t.elapsed().as_secs_f64();
    let messages = vec![ChatMessage::user(
        "Write a short story about a lighthouse keeper and a storm.",
    )];
    let prompt = model.render_chat(&messages)?;
    let max_tokens = 128;
    let chat = instance(
        "chat",
        {
            let model = model.clone();
            Arc::new(move || Ok(ChatModel::new(model.clone())))
        },
        Duration::ZERO,
    );
    let (mut bare_first, mut bare_tps, mut our_first, mut our_tps) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..5 {
        let (f, t) = bare_llama(&model, &prompt, max_tokens)?;
        bare_first.push(f);
        bare_tps.push(t);
        let started = Instant::now();
        let g = chat
            .send(Infer::<ChatModel>(ChatRequest::new(
                messages.clone(),
                GenerateOptions::greedy(max_tokens),
            )))
            .await??;
        // First token as the caller sees it: the model's own figure plus the time to reach it.
        let total_ms = started.elapsed().as_secs_f64() * 1e3;
        let decode_ms =
            g.completion_tokens.saturating_sub(1) as f64 / g.decode_tokens_per_s.max(1e-9) * 1e3;
        our_first.push((total_ms - decode_ms).max(g.first_token_ms));
        our_tps.push(g.decode_tokens_per_s);
    }
    let cancel = AtomicBool::new(false);
    let _ = &cancel;
    let (bf, bt, of, ot) = (
        median(bare_first),
        median(bare_tps),
        median(our_first),
        median(our_tps),
    );
    println!(
        "chat: load {load_s:.3} s; decode {ot:.1} tok/s vs bare {bt:.1} ({:.2}×); first token {of:.0} ms vs bare {bf:.0} ms",
        ot / bt
    );
    Ok(json!({
        "cold_load_s": load_s,
        "decode_tokens_per_s": ot,
        "bare_decode_tokens_per_s": bt,
        "decode_ratio": ot / bt,
        "first_token_ms": of,
        "bare_first_token_ms": bf,
        "first_token_extra_ms": of - bf,
        "pass": ot / bt >= 0.9 && of - bf <= 20.0 && load_s < 1.0,
    }))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") || !args.iter().any(|a| a == "--bench") {
        return Ok(());
    }
    let system = System::new();
    system.block_on(async {
        let session = SessionOptions::default();
        let mut report = serde_json::Map::new();
        report.insert(
            "cpus".into(),
            json!(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)),
        );

        // Embeddings.
        let embed_dir = dir("minilm-l6-v2-int8")?;
        let d = embed_dir.clone();
        let sentence = || "A man is eating food while reading the morning paper.".to_owned();
        report.insert(
            "minilm-l6-v2-int8".into(),
            onnx_model(
                "minilm-l6-v2-int8",
                move || Embedder::load(&d, &session),
                sentence,
            )
            .await?,
        );
        // Dynamic batching at concurrency 16 against the bare batch-of-one rate.
        let bare_one = report["minilm-l6-v2-int8"]["bare_per_s"].as_f64().unwrap_or(1.0);
        let d = embed_dir.clone();
        let batched = instance(
            "minilm-batched",
            Arc::new(move || Embedder::load(&d, &session)),
            Duration::from_millis(2),
        );
        let _ = batched.send(Infer::<Embedder>(sentence())).await;
        let budget = seconds();
        let started = Instant::now();
        let workers = (0..16).map(|_| {
            let batched = batched.clone();
            async move {
                let mut n = 0u32;
                while started.elapsed() < budget {
                    let r = batched.send(Infer::<Embedder>(sentence())).await;
                    assert!(matches!(r, Ok(Ok(_))));
                    n += 1;
                }
                n
            }
        });
        let total: u32 = join_all(workers).await.into_iter().sum();
        let rate = f64::from(total) / started.elapsed().as_secs_f64();
        println!(
            "embeddings, 16 at once: {rate:.1}/s vs bare batch-of-one {bare_one:.1}/s ({:.2}×)",
            rate / bare_one
        );
        report.insert(
            "embeddings_concurrency_16".into(),
            json!({ "per_s": rate, "bare_batch_of_one_per_s": bare_one, "ratio": rate / bare_one, "pass": rate / bare_one >= 2.0 }),
        );

        // Image classification and OCR.
        let cat_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/tests/data/chelsea.jpg");
        let cat = decode_image(&std::fs::read(cat_path)?, &ImageLimits::default())?;
        let d = dir("efficientnet-lite0")?;
        report.insert(
            "efficientnet-lite0".into(),
            onnx_model(
                "efficientnet-lite0",
                move || Classifier::load(&d, &session).map_err(vision_runtime),
                || cat.clone(),
            )
            .await?,
        );
        let page = text_image()?;
        let d = dir("ppocr-v4")?;
        report.insert(
            "ppocr-v4".into(),
            onnx_model(
                "ppocr-v4",
                move || Ocr::load(&d, &session).map_err(vision_runtime),
                || page.clone(),
            )
            .await?,
        );

        // Audio: VAD and Whisper on 10 s of speech.
        let speech = ten_seconds_of_speech()?;
        let d = dir("silero-vad")?;
        let s = speech.clone();
        report.insert(
            "silero-vad".into(),
            onnx_model("silero-vad", move || SileroVad::load(&d, &session), move || s.clone())
                .await?,
        );
        let d = dir("whisper-tiny-en")?;
        let s = speech.clone();
        let whisper = onnx_model("whisper-tiny-en", move || Whisper::load(&d, &session), move || s.clone())
            .await?;
        let rtf_asr = 1.0 / whisper["bare_per_s"].as_f64().unwrap_or(0.0) / 10.0;
        println!("speech recognition real-time factor: {rtf_asr:.3}");
        report.insert("whisper-tiny-en".into(), whisper);
        report.insert(
            "speech_recognition_rtf".into(),
            json!({ "rtf": rtf_asr, "audio_s": 10.0, "pass": rtf_asr <= 0.1 }),
        );

        // Speech synthesis.
        let d = dir("piper-en-us-joe-medium")?;
        let text = "Our new library has a quiet reading room, a café, and a garden for summer concerts. \
                    Members can borrow up to twelve books at a time.";
        let piper = onnx_model(
            "piper-en-us-joe-medium",
            move || PiperVoice::load(&d, &session).map_err(|e| tessera_models::runtime::RuntimeError::Load { path: String::new(), message: e.to_string() }),
            move || SynthRequest { text: text.to_owned(), options: SynthOptions::default() },
        )
        .await?;
        let mut voice = PiperVoice::load(&dir("piper-en-us-joe-medium")?, &session)?;
        let t = Instant::now();
        let out = voice.synthesize(text, &SynthOptions::default())?;
        let rtf_tts = t.elapsed().as_secs_f64() / out.duration_secs();
        println!("speech synthesis real-time factor: {rtf_tts:.3} ({:.1} s of audio)", out.duration_secs());
        report.insert("piper-en-us-joe-medium".into(), piper);
        report.insert(
            "speech_synthesis_rtf".into(),
            json!({ "rtf": rtf_tts, "audio_s": out.duration_secs(), "pass": rtf_tts <= 0.2 }),
        );

        report.insert("chat".into(), chat_figures().await?);

        let report = Value::Object(report);
        println!("{}", serde_json::to_string_pretty(&report)?);
        let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
        std::fs::create_dir_all(&out)?;
        std::fs::write(out.join("models.json"), serde_json::to_string_pretty(&report)?)?;
        anyhow::Ok(())
    })
}

fn vision_runtime(e: tessera_models::vision::VisionError) -> tessera_models::runtime::RuntimeError {
    tessera_models::runtime::RuntimeError::Load {
        path: String::new(),
        message: e.to_string(),
    }
}
