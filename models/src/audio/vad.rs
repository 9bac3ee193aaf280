//! Voice activity with Silero VAD v6: 512-sample frames at 16 kHz (with 64 samples of context
//! and a recurrent state carried between frames), then the reference library's segmentation.

use std::path::Path;

use ndarray::{arr0, Array2, Array3};
use ort::value::TensorRef;

use crate::runtime::{Model, OnnxRuntime, OnnxSession, RuntimeError, SessionOptions};

/// The model file in the install folder.
pub const MODEL_FILE: &str = "silero_vad.onnx";
/// New samples per frame at 16 kHz (32 ms).
pub const FRAME: usize = 512;
/// Samples of the previous frame fed again as context.
const CONTEXT: usize = 64;
const RATE: usize = 16_000;
const STATE: usize = 128;

/// A stretch of speech, in seconds from the start of the audio.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    /// Start, in seconds.
    pub start: f32,
    /// End, in seconds.
    pub end: f32,
}

/// Segmentation parameters (the Silero library's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VadParams {
    /// A frame at or above this probability is speech.
    pub threshold: f32,
    /// A frame below this probability may end speech.
    pub neg_threshold: f32,
    /// Shorter speech is dropped.
    pub min_speech_ms: u32,
    /// Silence must last this long to end a segment.
    pub min_silence_ms: u32,
    /// Padding added to each side of a segment.
    pub speech_pad_ms: u32,
}

impl Default for VadParams {
    fn default() -> Self {
        VadParams {
            threshold: 0.5,
            neg_threshold: 0.35,
            min_speech_ms: 250,
            min_silence_ms: 100,
            speech_pad_ms: 30,
        }
    }
}

/// The Silero VAD model.
pub struct SileroVad {
    session: OnnxSession,
    params: VadParams,
}

impl SileroVad {
    /// Loads `silero_vad.onnx` from an installed model folder.
    pub fn load(dir: &Path, options: &SessionOptions) -> Result<Self, RuntimeError> {
        let session = OnnxRuntime::get()?.session(dir.join(MODEL_FILE), options)?;
        Ok(SileroVad {
            session,
            params: VadParams::default(),
        })
    }

    /// Replaces the segmentation parameters.
    pub fn with_params(mut self, params: VadParams) -> Self {
        self.params = params;
        self
    }

    /// The segmentation parameters in use.
    pub fn params(&self) -> VadParams {
        self.params
    }

    /// The speech probability of each 32 ms frame of 16 kHz audio (the last frame zero-padded).
    pub fn probabilities(&mut self, pcm_16k: &[f32]) -> Result<Vec<f32>, RuntimeError> {
        let frames = pcm_16k.len().div_ceil(FRAME);
        let mut out = Vec::with_capacity(frames);
        let mut state = Array3::<f32>::zeros((2, 1, STATE));
        let mut input = Array2::<f32>::zeros((1, CONTEXT + FRAME));
        let sr = arr0(RATE as i64);
        let model = self.session.name().to_string();
        let tensor_err = |e: ort::Error| RuntimeError::Inference {
            model: model.clone(),
            message: e.to_string(),
        };
        for chunk in pcm_16k.chunks(FRAME) {
            {
                let row = input
                    .as_slice_mut()
                    .ok_or_else(|| self.session.output_error("input buffer is not contiguous"))?;
                // Context = the last 64 samples of the previous frame (zeros at the start).
                row.copy_within(FRAME.., 0);
                for (dst, &s) in row[CONTEXT..].iter_mut().zip(chunk) {
                    // Non-finite input would poison the recurrent state for the rest.
                    *dst = if s.is_finite() { s } else { 0.0 };
                }
                row[CONTEXT + chunk.len()..].fill(0.0);
            }
            let outputs = self.session.run(ort::inputs![
                "input" => TensorRef::from_array_view(&input).map_err(tensor_err)?,
                "state" => TensorRef::from_array_view(&state).map_err(tensor_err)?,
                "sr" => TensorRef::from_array_view(&sr).map_err(tensor_err)?,
            ])?;
            let p =
                outputs["output"]
                    .try_extract_array::<f32>()
                    .map_err(|e| RuntimeError::Output {
                        model: model.clone(),
                        message: e.to_string(),
                    })?;
            let p = p
                .iter()
                .next()
                .copied()
                .ok_or_else(|| RuntimeError::Output {
                    model: model.clone(),
                    message: "empty output".into(),
                })?;
            let next =
                outputs["stateN"]
                    .try_extract_array::<f32>()
                    .map_err(|e| RuntimeError::Output {
                        model: model.clone(),
                        message: e.to_string(),
                    })?;
            if next.len() != state.len() {
                return Err(RuntimeError::Output {
                    model: model.clone(),
                    message: format!("stateN has shape {:?}", next.shape()),
                });
            }
            state.iter_mut().zip(next.iter()).for_each(|(s, n)| *s = *n);
            out.push(p);
        }
        Ok(out)
    }

    /// The speech segments of 16 kHz audio. Silence (or no audio) gives none.
    pub fn segments(&mut self, pcm_16k: &[f32]) -> Result<Vec<Span>, RuntimeError> {
        let probs = self.probabilities(pcm_16k)?;
        Ok(segment(&probs, pcm_16k.len(), &self.params))
    }
}

/// Turns frame probabilities into speech spans the way the Silero library's
/// `get_speech_timestamps` does (without a maximum speech length).
pub fn segment(probs: &[f32], total_samples: usize, params: &VadParams) -> Vec<Span> {
    let ms = |v: u32| RATE * v as usize / 1000;
    let min_speech = ms(params.min_speech_ms);
    let min_silence = ms(params.min_silence_ms);
    let pad = ms(params.speech_pad_ms);
    let mut speeches: Vec<(usize, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut temp_end = 0usize;
    for (i, &p) in probs.iter().enumerate() {
        let at = FRAME * i;
        if p >= params.threshold && temp_end != 0 {
            temp_end = 0;
        }
        let Some(s) = start else {
            if p >= params.threshold {
                start = Some(at);
            }
            continue;
        };
        if p < params.neg_threshold {
            if temp_end == 0 {
                temp_end = at;
            }
            if at - temp_end < min_silence {
                continue;
            }
            if temp_end - s > min_speech {
                speeches.push((s, temp_end));
            }
            start = None;
            temp_end = 0;
        }
    }
    if let Some(s) = start {
        if total_samples.saturating_sub(s) > min_speech {
            speeches.push((s, total_samples));
        }
    }
    let n = speeches.len();
    for i in 0..n {
        if i == 0 {
            speeches[0].0 = speeches[0].0.saturating_sub(pad);
        }
        if i + 1 < n {
            let gap = speeches[i + 1].0.saturating_sub(speeches[i].1);
            if gap < 2 * pad {
                speeches[i].1 += gap / 2;
                speeches[i + 1].0 = speeches[i + 1].0.saturating_sub(gap / 2);
            } else {
                speeches[i].1 = (speeches[i].1 + pad).min(total_samples);
                speeches[i + 1].0 = speeches[i + 1].0.saturating_sub(pad);
            }
        } else {
            speeches[i].1 = (speeches[i].1 + pad).min(total_samples);
        }
    }
    speeches
        .into_iter()
        .map(|(s, e)| Span {
            start: s as f32 / RATE as f32,
            end: e as f32 / RATE as f32,
        })
        .collect()
}

impl Model for SileroVad {
    /// 16 kHz mono samples.
    type Request = Vec<f32>;
    /// Their speech spans.
    type Response = Vec<Span>;

    fn run_batch(&mut self, requests: Vec<Vec<f32>>) -> Vec<Result<Vec<Span>, RuntimeError>> {
        requests.iter().map(|pcm| self.segments(pcm)).collect()
    }
}
