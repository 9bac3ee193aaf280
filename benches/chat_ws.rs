//! Chat over the live socket (issue 5): first token and decode speed as a WebSocket client
//! sees them, against the runtime's own figures for the same model and prompt in the same run.
//!
//! Goals: first token ≤ the runtime's first token + 25 ms; decode ≥ 0.9× the runtime's.
//!
//! Each round posts a message to a new conversation (so the prompt is the same every time) and
//! times, on the client: the POST to the first `conversation.answer_streamed` frame (first
//! token), and the first frame to `conversation.answer_completed` over the answer's tokens
//! (decode). The baseline is a bare llama-cpp-2 greedy loop on the same rendered prompt
//! (system prompt and question) with one thread. Answers are greedy in both.
//!
//! Two sets of rounds: *warm*, one user's new conversations, where the model's prompt cache
//! holds the system prompt's state from the user's earlier ones (what a user sees from their
//! second conversation on); and *cold*, each round a user who has asked nothing yet, so the
//! whole prompt is read, as in the baseline. Both must meet the goals.
//!
//! Figures are printed and written to `target/bench-results/chat_ws.json`.
//! `TESSERA_BENCH_ROUNDS` (default 5) rounds; the median counts.

#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

#[path = "support/llama.rs"]
mod llama;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use secrecy::SecretString;
use serde_json::{json, Value};
use support::env_or;
use tessera::conversations::context::SYSTEM_PROMPT;
use tessera_models::catalog::Catalog;
use tessera_models::runtime::llama::{ChatMessage, LlamaModel, LlamaOptions};
use tessera_testkit::server::serve_on_thread;
use tessera_testkit::signin::login;
use tessera_testkit::WsClient;

const PASSWORD: &str = tessera_testkit::signin::PASSWORD;
const QUESTION: &str = "Write a short story about a lighthouse keeper and a storm.";
const MAX_TOKENS: usize = 128;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    let rounds: usize = env_or("TESSERA_BENCH_ROUNDS", 5usize).max(1);
    let work = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-chat-ws");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let data_dir = work.join("data").display().to_string();

    // The baseline: its rounds run in turn with the server's (the server idle meanwhile), so
    // both meet the machine in the same moods.
    let path = Catalog::shipped()
        .require("smollm2-135m-instruct")
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let model = LlamaModel::load(
        &path,
        &LlamaOptions {
            n_threads: 1,
            n_threads_batch: 1,
            ..LlamaOptions::default()
        },
    )?;
    let prompt = model.render_chat(&[
        ChatMessage::system(SYSTEM_PROMPT),
        ChatMessage::user(QUESTION),
    ])?;
    let mut baseline = Baseline {
        model,
        prompt,
        first: Vec::new(),
        tokens_per_s: Vec::new(),
    };

    let served = serve_on_thread(
        10,
        &[
            ("data_dir", data_dir.as_str()),
            ("processing.enabled", "false"),
            ("quotas.processing_seconds_per_day", "1000000"),
            ("chat.temperature", "0"),
            ("chat.max_answer_tokens", "128"),
        ],
        move |app, _| {
            let auth = app.auth().clone();
            async move {
                // One user for the rounds that share a prompt cache, one more per cold round.
                for i in 0..=rounds {
                    auth.create_admin(
                        &format!("bench{i}@example.com"),
                        SecretString::from(PASSWORD),
                        "Bench",
                    )
                    .await
                    .expect("create user");
                }
            }
        },
    )?;
    let (base, port) = (served.base, served.port);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async move {
        // The baseline's rounds leave connections idle for seconds, past the server's
        // keep-alive: do not reuse those.
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(1))
            .build()?;
        // Warm: one user's new conversations, as a user sees them from the second on: the
        // system prompt's state comes from the model's prompt cache.
        let mut user = Session::open(&client, &base, port, 0).await?;
        let mut warm = Vec::new();
        // One round more than measured: the first loads the model (and fills the cache).
        for round in 0..=rounds {
            if round > 0 {
                baseline.round()?;
            }
            let r = user.round(&client, &base).await?;
            if round > 0 {
                warm.push(r);
            }
        }
        // Cold: each round a user who has not asked anything yet, so the whole prompt is read.
        let mut cold = Vec::new();
        for i in 1..=rounds {
            let mut user = Session::open(&client, &base, port, i).await?;
            baseline.round()?;
            cold.push(user.round(&client, &base).await?);
        }
        let (bf, bt) = (median(baseline.first), median(baseline.tokens_per_s));
        let warm = Figures::of(&warm);
        let cold = Figures::of(&cold);
        for (name, f) in [("warm", &warm), ("cold", &cold)] {
            println!(
                "chat over WebSocket ({name}): first token {:.0} ms vs runtime {bf:.0} ms \
                 ({:+.0} ms, {:.0} prompt tokens cached); decode {:.1} tok/s vs runtime {bt:.1} \
                 ({:.2}×)",
                f.first_token_ms,
                f.first_token_ms - bf,
                f.cached_tokens,
                f.decode_tokens_per_s,
                f.decode_tokens_per_s / bt
            );
        }
        anyhow::Ok(json!({
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "rounds": rounds,
            "runtime_first_token_ms": bf,
            "runtime_decode_tokens_per_s": bt,
            "warm": warm.json(bf, bt),
            "cold": cold.json(bf, bt),
            "pass": warm.pass(bf, bt) && cold.pass(bf, bt),
        }))
    })?;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("chat_ws.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// A signed-in bench user with a live socket.
struct Session {
    token: String,
    ws: WsClient,
}

/// One measured answer.
struct Round {
    first_ms: f64,
    tokens_per_s: f64,
    tokens: f64,
    server_first_ms: f64,
    server_context_ms: f64,
    cached_tokens: f64,
}

impl Session {
    async fn open(client: &reqwest::Client, base: &str, port: u16, i: usize) -> Result<Self> {
        let token = login(client, base, &format!("bench{i}@example.com"), PASSWORD)
            .await?
            .access;
        let ws = WsClient::connect_bearer(&format!("ws://127.0.0.1:{port}/api/ws"), Some(&token))
            .await?;
        Ok(Session { token, ws })
    }

    /// Posts the question to a new conversation (so the prompt is the same every time) and
    /// times its answer as the socket shows it.
    async fn round(&mut self, client: &reqwest::Client, base: &str) -> Result<Round> {
        let conv: Value = client
            .post(format!("{base}/api/conversations"))
            .bearer_auth(&self.token)
            .json(&json!({}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = conv["id"].as_str().context("id")?.to_owned();
        let stream = format!("conversation-{id}");
        let posted = Instant::now();
        client
            .post(format!("{base}/api/conversations/{id}/messages"))
            .bearer_auth(&self.token)
            .json(&json!({ "text": QUESTION }))
            .send()
            .await?
            .error_for_status()?;
        let mut first: Option<Instant> = None;
        let done = loop {
            let text = self
                .ws
                .next_frame(Duration::from_secs(120))
                .await
                .context("no frame in 120 s")?
                .map_err(|_| anyhow::anyhow!("socket ended"))?;
            let f: Value = serde_json::from_str(&text)?;
            if f["stream"] != stream.as_str() {
                continue;
            }
            match f["event_type"].as_str() {
                Some("conversation.answer_streamed") => {
                    first.get_or_insert_with(Instant::now);
                }
                Some("conversation.answer_completed") => break (Instant::now(), f),
                Some("conversation.answer_failed") => anyhow::bail!("answer failed: {f}"),
                _ => {}
            }
        };
        // The next round starts once this answer's events are projected everywhere: the
        // figures are the path's own, not the previous answer's tail.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let first = first.context("no piece before the end")?;
        let out = done.1["payload"]["tokens_out"].as_u64().unwrap_or(0);
        let timings = &done.1["payload"]["timings"];
        let context_ms = timings["context_ms"].as_f64().unwrap_or(f64::NAN);
        Ok(Round {
            first_ms: first.duration_since(posted).as_secs_f64() * 1e3,
            tokens_per_s: out.saturating_sub(1) as f64
                / done.0.duration_since(first).as_secs_f64().max(1e-9),
            tokens: out as f64,
            server_first_ms: context_ms + timings["first_token_ms"].as_f64().unwrap_or(f64::NAN),
            server_context_ms: context_ms,
            cached_tokens: timings["cached_prompt_tokens"].as_f64().unwrap_or(0.0),
        })
    }
}

/// Medians of a set of rounds.
struct Figures {
    first_token_ms: f64,
    decode_tokens_per_s: f64,
    tokens: f64,
    server_first_ms: f64,
    server_context_ms: f64,
    cached_tokens: f64,
}

impl Figures {
    fn of(rounds: &[Round]) -> Self {
        let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        Figures {
            first_token_ms: m(|r| r.first_ms),
            decode_tokens_per_s: m(|r| r.tokens_per_s),
            tokens: m(|r| r.tokens),
            server_first_ms: m(|r| r.server_first_ms),
            server_context_ms: m(|r| r.server_context_ms),
            cached_tokens: m(|r| r.cached_tokens),
        }
    }

    fn pass(&self, bare_first: f64, bare_tps: f64) -> bool {
        self.first_token_ms - bare_first <= 25.0 && self.decode_tokens_per_s / bare_tps >= 0.9
    }

    fn json(&self, bare_first: f64, bare_tps: f64) -> Value {
        json!({
            "answer_tokens_median": self.tokens,
            "cached_prompt_tokens_median": self.cached_tokens,
            "first_token_ms": self.first_token_ms,
            "first_token_extra_ms": self.first_token_ms - bare_first,
            "server_first_token_ms": self.server_first_ms,
            "server_context_ms": self.server_context_ms,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "decode_ratio": self.decode_tokens_per_s / bare_tps,
            "pass": self.pass(bare_first, bare_tps),
        })
    }
}

/// The runtime's own rounds: a bare llama-cpp-2 loop on the same prompt.
struct Baseline {
    model: std::sync::Arc<LlamaModel>,
    prompt: String,
    first: Vec<f64>,
    tokens_per_s: Vec<f64>,
}

impl Baseline {
    fn round(&mut self) -> Result<()> {
        let (first, tokens_per_s) = llama::bare_llama(&self.model, &self.prompt, MAX_TOKENS)?;
        self.first.push(first);
        self.tokens_per_s.push(tokens_per_s);
        Ok(())
    }
}
