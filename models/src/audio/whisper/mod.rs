//! Speech recognition with Whisper tiny.en (ONNX: an encoder that also gives each decoder layer's
//! cross-attention keys and values, and a decoder step with a self-attention cache).
//!
//! Greedy decoding with timestamps: the prompt is `<|startoftranscript|>` alone, timestamps come
//! in pairs that never decrease, and a timestamp is forced when their total probability beats the
//! best text token (Whisper's own rules). Audio longer than 30 s is read in 30 s windows, each
//! starting at the last complete timestamp of the previous one.

pub mod mel;
pub mod tokens;

use std::path::Path;

use ndarray::{Array2, Array3, Array4};
use ort::value::{DynValue, TensorRef};

use crate::runtime::{Model, OnnxRuntime, OnnxSession, RuntimeError, SessionOptions};
use mel::{MelFrontEnd, N_FRAMES, N_MELS, N_SAMPLES};
use tokens::{
    Vocabulary, EOT, NO_SPEECH, NO_TIMESTAMPS, SOT, TIMESTAMP_BEGIN, TIMESTAMP_STEP, VOCAB,
};

const LAYERS: usize = 4;
const HEADS: usize = 6;
const HEAD_DIM: usize = 64;
const RATE: usize = 16_000;
/// Samples per mel frame.
const FRAME_SAMPLES: usize = 160;
/// Tokens sampled per window at most (Whisper's own cap: half the 448-position context).
pub const MAX_STEPS: usize = 224;
/// The first timestamp may be at most this many steps (1.0 s) into the window.
const MAX_INITIAL_TIMESTAMP: u32 = 50;
/// Windows with less audio than this (0.1 s) are not decoded.
const MIN_WINDOW_SAMPLES: usize = RATE / 10;
/// Above this "no speech" probability, with a low average log-probability, a window is silent.
const NO_SPEECH_THRESHOLD: f32 = 0.6;
const LOGPROB_THRESHOLD: f32 = -1.0;
/// Samples with no magnitude above this are digital silence and are not decoded.
const SILENCE_PEAK: f32 = 1e-4;

/// One stretch of transcribed speech, in seconds from the start of the audio.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Start, in seconds.
    pub start: f32,
    /// End, in seconds.
    pub end: f32,
    /// What was said, trimmed.
    pub text: String,
}

/// A transcript: its segments in time order, and their text joined by spaces.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transcript {
    /// Segments in time order, none empty.
    pub segments: Vec<Segment>,
    /// The segments' text joined by spaces.
    pub text: String,
}

impl Transcript {
    /// Builds a transcript from segments, dropping empty ones.
    pub fn from_segments(segments: Vec<Segment>) -> Self {
        let segments: Vec<Segment> = segments
            .into_iter()
            .filter(|s| !s.text.trim().is_empty())
            .collect();
        let text = segments
            .iter()
            .map(|s| s.text.trim())
            .collect::<Vec<_>>()
            .join(" ");
        Transcript { segments, text }
    }
}

/// The tokens one window decoded to.
struct WindowResult {
    /// Sampled tokens (no prompt, no end of text).
    tokens: Vec<u32>,
    /// Decoding stopped on a loop or the step cap instead of end of text.
    cut: bool,
    /// Judged silent: no text.
    silent: bool,
}

/// Whisper tiny.en, loaded.
pub struct Whisper {
    encoder: OnnxSession,
    decoder: OnnxSession,
    vocab: Vocabulary,
    mel: MelFrontEnd,
}

impl Whisper {
    /// Loads `encoder.onnx`, `decoder.onnx`, `vocabulary.txt` and `config.json` from an installed
    /// model folder.
    pub fn load(dir: &Path, options: &SessionOptions) -> Result<Self, RuntimeError> {
        let runtime = OnnxRuntime::get()?;
        let encoder = runtime.session(dir.join("encoder.onnx"), options)?;
        let decoder = runtime.session(dir.join("decoder.onnx"), options)?;
        let vocab = Vocabulary::load(dir)?;
        Ok(Whisper {
            encoder,
            decoder,
            vocab,
            mel: MelFrontEnd::new(),
        })
    }

    /// The log-mel front end.
    pub fn front_end(&self) -> &MelFrontEnd {
        &self.mel
    }

    /// The text of token ids (special and timestamp tokens skipped).
    pub fn detokenize(&self, tokens: &[u32]) -> String {
        self.vocab.decode(tokens)
    }

    /// Transcribes 16 kHz mono audio of any length. Times are relative to its first sample.
    pub fn transcribe(&mut self, pcm_16k: &[f32]) -> Result<Transcript, RuntimeError> {
        let total_frames = pcm_16k.len().div_ceil(FRAME_SAMPLES);
        let mut seek = 0usize; // in mel frames (10 ms)
        let mut segments = Vec::new();
        while seek < total_frames {
            let from = seek * FRAME_SAMPLES;
            let to = (from + N_SAMPLES).min(pcm_16k.len());
            let window = &pcm_16k[from..to];
            let window_frames = (total_frames - seek).min(N_FRAMES);
            let offset = seek as f32 * FRAME_SAMPLES as f32 / RATE as f32;
            let window_seconds = window.len() as f32 / RATE as f32;
            if window.len() < MIN_WINDOW_SAMPLES
                || !window
                    .iter()
                    .any(|s| s.is_finite() && s.abs() > SILENCE_PEAK)
            {
                seek += window_frames;
                continue;
            }
            let result = self.decode_window(window)?;
            if result.silent {
                seek += window_frames;
                continue;
            }
            let advance = self.collect_segments(&result, offset, window_seconds, &mut segments);
            // Always move on: a window that ends at its own start would repeat forever.
            seek += match advance {
                Some(frames) if frames > 0 && frames <= window_frames && !result.cut => frames,
                _ => window_frames,
            };
        }
        Ok(Transcript::from_segments(segments))
    }

    /// Turns one window's tokens into segments; returns how many mel frames it consumed when it
    /// ends at a timestamp pair inside the window (None: the whole window).
    fn collect_segments(
        &self,
        result: &WindowResult,
        offset: f32,
        window_seconds: f32,
        out: &mut Vec<Segment>,
    ) -> Option<usize> {
        let tokens = &result.tokens;
        let is_ts = |t: u32| t >= TIMESTAMP_BEGIN;
        let seconds = |t: u32| (t - TIMESTAMP_BEGIN) as f32 * TIMESTAMP_STEP;
        let clamp = |t: f32| t.clamp(0.0, window_seconds) + offset;
        let n = tokens.len();
        let single_ending = n >= 2 && !is_ts(tokens[n - 2]) && is_ts(tokens[n - 1]);
        let mut cuts: Vec<usize> = (1..n)
            .filter(|&i| is_ts(tokens[i - 1]) && is_ts(tokens[i]))
            .collect();
        if cuts.is_empty() {
            let end = tokens
                .iter()
                .rev()
                .find(|&&t| is_ts(t) && t != TIMESTAMP_BEGIN)
                .map_or(window_seconds, |&t| seconds(t));
            let start = tokens
                .iter()
                .find(|&&t| is_ts(t))
                .map_or(0.0, |&t| seconds(t));
            out.push(Segment {
                start: clamp(start),
                end: clamp(end.max(start)),
                text: self.vocab.decode(tokens),
            });
            return None;
        }
        if single_ending || result.cut {
            cuts.push(n);
        }
        let mut last = 0;
        for &cut in &cuts {
            let slice = &tokens[last..cut];
            last = cut;
            let start = slice.iter().find(|&&t| is_ts(t)).map(|&t| seconds(t));
            let end = slice.iter().rev().find(|&&t| is_ts(t)).map(|&t| seconds(t));
            let start = start.unwrap_or(0.0);
            let end = end.filter(|&e| e > start).unwrap_or(window_seconds);
            out.push(Segment {
                start: clamp(start),
                end: clamp(end),
                text: self.vocab.decode(slice),
            });
        }
        if single_ending || result.cut {
            return None;
        }
        let last_ts = tokens[last - 1];
        Some((last_ts - TIMESTAMP_BEGIN) as usize * 2)
    }

    /// Encodes one window (≤ 30 s) and decodes it greedily with timestamps.
    fn decode_window(&mut self, window: &[f32]) -> Result<WindowResult, RuntimeError> {
        let features = self.mel.log_mel(window);
        let features = Array3::from_shape_vec((1, N_MELS, N_FRAMES), features)
            .map_err(|e| self.encoder.output_error(e.to_string()))?;
        let enc_name = self.encoder.name().to_string();
        let tensor_err = |model: &str| {
            let model = model.to_string();
            move |e: ort::Error| RuntimeError::Inference {
                model: model.clone(),
                message: e.to_string(),
            }
        };
        let mut enc_out = self.encoder.run(ort::inputs![
            "input_features" => TensorRef::from_array_view(&features).map_err(tensor_err(&enc_name))?,
        ])?;
        let mut cross: Vec<(String, DynValue)> = Vec::with_capacity(2 * LAYERS);
        for kind in ["k", "v"] {
            for layer in 0..LAYERS {
                let name = format!("cross_{kind}_{layer}");
                let value = enc_out.remove(&name).ok_or_else(|| RuntimeError::Output {
                    model: enc_name.clone(),
                    message: format!("no output {name}"),
                })?;
                cross.push((name, value));
            }
        }
        drop(enc_out);

        let dec_name = self.decoder.name().to_string();
        let out_err = |message: String| RuntimeError::Output {
            model: dec_name.clone(),
            message,
        };
        let empty = Array4::<f32>::zeros((1, HEADS, 0, HEAD_DIM));
        let mut past: Vec<(String, DynValue)> = Vec::new();
        let mut tokens: Vec<u32> = Vec::new();
        let mut input = vec![SOT];
        let mut sum_logprob = 0f32;
        let mut no_speech = 0f32;
        let mut cut = true;
        let mut logits = vec![0f32; VOCAB];
        for step in 0..MAX_STEPS {
            let ids = Array2::from_shape_vec(
                (1, input.len()),
                input.iter().map(|&t| i64::from(t)).collect(),
            )
            .map_err(|e| out_err(e.to_string()))?;
            let mut inputs: Vec<(
                std::borrow::Cow<'_, str>,
                ort::session::SessionInputValue<'_>,
            )> = Vec::with_capacity(1 + 4 * LAYERS);
            inputs.push((
                "input_ids".into(),
                TensorRef::from_array_view(&ids)
                    .map_err(tensor_err(&dec_name))?
                    .into(),
            ));
            if past.is_empty() {
                for kind in ["k", "v"] {
                    for layer in 0..LAYERS {
                        inputs.push((
                            format!("past_self_{kind}_{layer}").into(),
                            TensorRef::from_array_view(&empty)
                                .map_err(tensor_err(&dec_name))?
                                .into(),
                        ));
                    }
                }
            } else {
                for (name, value) in &past {
                    inputs.push((name.as_str().into(), value.into()));
                }
            }
            for (name, value) in &cross {
                inputs.push((name.as_str().into(), value.into()));
            }
            let mut outputs = self.decoder.run(inputs)?;
            {
                let raw = outputs["logits"]
                    .try_extract_array::<f32>()
                    .map_err(|e| out_err(e.to_string()))?;
                if raw.len() != VOCAB {
                    return Err(out_err(format!("logits have shape {:?}", raw.shape())));
                }
                match raw.as_slice() {
                    Some(slice) => logits.copy_from_slice(slice),
                    None => logits.iter_mut().zip(raw.iter()).for_each(|(l, r)| *l = *r),
                }
            }
            let mut next_past = Vec::with_capacity(2 * LAYERS);
            for kind in ["k", "v"] {
                for layer in 0..LAYERS {
                    let value = outputs
                        .remove(format!("present_self_{kind}_{layer}"))
                        .ok_or_else(|| out_err(format!("no output present_self_{kind}_{layer}")))?;
                    next_past.push((format!("past_self_{kind}_{layer}"), value));
                }
            }
            drop(outputs);
            past = next_past;

            if step == 0 {
                no_speech = softmax_at(&logits, NO_SPEECH as usize);
            }
            self.apply_rules(&mut logits, &tokens);
            let (best, logprob) = choose(&logits);
            if best == EOT {
                cut = false;
                break;
            }
            sum_logprob += logprob;
            tokens.push(best);
            if let Some(keep) = repetition(&tokens) {
                tokens.truncate(keep);
                break;
            }
            input.clear();
            input.push(best);
        }
        let avg_logprob = sum_logprob / (tokens.len() + 1) as f32;
        let silent = no_speech > NO_SPEECH_THRESHOLD && avg_logprob < LOGPROB_THRESHOLD;
        Ok(WindowResult {
            tokens,
            cut,
            silent,
        })
    }

    /// Masks what may not come next: the config's suppressed ids, blanks at the start, and
    /// Whisper's timestamp rules (the forced timestamp is applied by [`choose`]).
    fn apply_rules(&self, logits: &mut [f32], tokens: &[u32]) {
        let ninf = f32::NEG_INFINITY;
        let tb = TIMESTAMP_BEGIN as usize;
        for &id in &self.vocab.suppress {
            logits[id as usize] = ninf;
        }
        logits[NO_TIMESTAMPS as usize] = ninf;
        if tokens.is_empty() {
            for &id in &self.vocab.suppress_begin {
                logits[id as usize] = ninf;
            }
            // The first token is a timestamp of at most 1 s.
            logits[..tb].fill(ninf);
            logits[tb + MAX_INITIAL_TIMESTAMP as usize + 1..].fill(ninf);
            return;
        }
        let n = tokens.len();
        let last_ts = tokens[n - 1] >= TIMESTAMP_BEGIN;
        let penultimate_ts = n < 2 || tokens[n - 2] >= TIMESTAMP_BEGIN;
        if last_ts {
            if penultimate_ts {
                logits[tb..].fill(ninf);
            } else {
                logits[..EOT as usize].fill(ninf);
            }
        }
        if let Some(&last) = tokens.iter().rev().find(|&&t| t >= TIMESTAMP_BEGIN) {
            // Timestamps never decrease; a new pair starts after the previous one ended.
            let bound = if last_ts && !penultimate_ts {
                last
            } else {
                last + 1
            };
            let bound = (bound as usize).min(VOCAB);
            logits[tb..bound].fill(ninf);
        }
    }
}

/// Picks the next token from masked logits, with its log-probability: the best text token, or
/// the best timestamp when all timestamps together are more likely than the best text token
/// (Whisper's rule). One pass for the maxima, one for the exponentials. EOT when all is masked.
fn choose(logits: &[f32]) -> (u32, f32) {
    let tb = TIMESTAMP_BEGIN as usize;
    let (text, stamps) = logits.split_at(tb.min(logits.len()));
    let (text_best, text_max) = argmax(text);
    let (ts_best, ts_max) = argmax(stamps);
    let max = text_max.max(ts_max);
    if max == f32::NEG_INFINITY {
        return (EOT, 0.0);
    }
    let text_sum: f32 = text.iter().map(|&l| (l - max).exp()).sum();
    let ts_sum: f32 = stamps.iter().map(|&l| (l - max).exp()).sum();
    let log_z = max + (text_sum + ts_sum).ln();
    let ts_logprob = max + ts_sum.ln() - log_z;
    if ts_sum > 0.0 && ts_logprob > text_max - log_z {
        // Text is masked: the timestamp's probability among timestamps only.
        return ((tb + ts_best) as u32, ts_max - (max + ts_sum.ln()));
    }
    if text_max >= ts_max {
        (text_best as u32, text_max - log_z)
    } else {
        ((tb + ts_best) as u32, ts_max - log_z)
    }
}

/// The index and value of the largest element (negative infinity when empty or all masked).
fn argmax(values: &[f32]) -> (usize, f32) {
    let mut best = 0;
    let mut max = f32::NEG_INFINITY;
    for (i, &v) in values.iter().enumerate() {
        if v > max {
            max = v;
            best = i;
        }
    }
    (best, max)
}

/// The softmax probability of one id.
fn softmax_at(logits: &[f32], id: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    match logits.get(id) {
        Some(&l) if sum > 0.0 => (l - max).exp() / sum,
        _ => 0.0,
    }
}

/// Detects a decoding loop: the same run of tokens repeated back to back at the end (at least 3
/// times and 12 tokens in all). Returns how many tokens to keep (one copy of the run).
fn repetition(tokens: &[u32]) -> Option<usize> {
    let n = tokens.len();
    for period in 1..=32usize {
        let copies = 3usize.max(12usize.div_ceil(period));
        let span = period * copies;
        if span > n {
            continue;
        }
        let tail = &tokens[n - span..];
        if tail.iter().enumerate().all(|(i, &t)| t == tail[i % period]) {
            return Some(n - span + period);
        }
    }
    None
}

impl Model for Whisper {
    /// 16 kHz mono samples.
    type Request = Vec<f32>;
    /// Their transcript.
    type Response = Transcript;

    fn run_batch(&mut self, requests: Vec<Vec<f32>>) -> Vec<Result<Transcript, RuntimeError>> {
        requests.iter().map(|pcm| self.transcribe(pcm)).collect()
    }
}
