//! The settings of each model step, as typed records. Serialised, they are part of the result
//! cache's key and of the step's provenance, so a field's name, type or value never changes
//! without making every cached result of that step stale.

use serde::Serialize;

/// Image classification: how many labels are kept and how the picture is prepared.
#[derive(Debug, Clone, Serialize)]
pub(super) struct LabelParams {
    pub top_k: usize,
    pub preprocess: &'static str,
    pub normalise: &'static str,
}

impl LabelParams {
    pub fn new(top_k: usize) -> Self {
        LabelParams {
            top_k,
            preprocess: "centre_crop_224",
            normalise: "(x-127)/128",
        }
    }
}

/// Text detection and recognition thresholds.
#[derive(Debug, Clone, Serialize)]
pub(super) struct OcrParams {
    pub det_threshold: f64,
    pub box_threshold: f64,
    pub unclip: f64,
    pub angle_classifier: bool,
}

pub(super) const OCR: OcrParams = OcrParams {
    det_threshold: 0.3,
    box_threshold: 0.5,
    unclip: 1.6,
    angle_classifier: true,
};

/// Voice activity detection (the Silero library's defaults).
#[derive(Debug, Clone, Serialize)]
pub(super) struct VadParams {
    pub threshold: f64,
    pub neg_threshold: f64,
    pub min_speech_ms: u32,
    pub min_silence_ms: u32,
    pub speech_pad_ms: u32,
}

pub(super) const VAD: VadParams = VadParams {
    threshold: 0.5,
    neg_threshold: 0.35,
    min_speech_ms: 250,
    min_silence_ms: 100,
    speech_pad_ms: 30,
};

/// Transcription over the speech found, in windows of at most `window_secs`.
#[derive(Debug, Clone, Serialize)]
pub(super) struct TranscriptParams {
    pub decoding: &'static str,
    pub timestamps: bool,
    pub window_secs: u32,
    pub vad_chunks: bool,
}

pub(super) const TRANSCRIPT: TranscriptParams = TranscriptParams {
    decoding: "greedy",
    timestamps: true,
    window_secs: 30,
    vad_chunks: true,
};

/// A summary by the language model, piece by piece for a long text.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SummaryParams {
    pub prompt: &'static str,
    pub max_words: usize,
    pub piece_chars: usize,
    pub temperature: f64,
}

/// Text the language model composes from findings (a description, a video's summary).
#[derive(Debug, Clone, Serialize)]
pub(super) struct ComposeParams {
    pub prompt: &'static str,
    pub temperature: f64,
    pub max_tokens: usize,
}

/// Text embeddings, window by window.
#[derive(Debug, Clone, Serialize)]
pub(super) struct EmbeddingParams {
    pub window_tokens: u32,
    pub overlap_tokens: u32,
    pub pooling: &'static str,
    pub normalised: bool,
}

pub(super) const EMBEDDINGS: EmbeddingParams = EmbeddingParams {
    window_tokens: 256,
    overlap_tokens: 32,
    pooling: "mean",
    normalised: true,
};

/// Speech synthesis (provenance only: speech is not cached).
#[derive(Debug, Clone, Serialize)]
pub(super) struct SpeechParams {
    pub speed: f32,
    pub sentence_silence: f32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn same<T: Serialize>(typed: &T, written: Value) {
        let typed = serde_json::to_value(typed).unwrap();
        assert_eq!(typed.to_string(), written.to_string());
    }

    /// Cache keys are made from these records: they must read exactly as the parameters the
    /// cached results were stored under.
    #[test]
    fn parameters_serialise_as_the_cache_keys_before_them() {
        same(
            &LabelParams::new(5),
            json!({ "top_k": 5, "preprocess": "centre_crop_224", "normalise": "(x-127)/128" }),
        );
        same(
            &OCR,
            json!({ "det_threshold": 0.3, "box_threshold": 0.5, "unclip": 1.6, "angle_classifier": true }),
        );
        same(
            &VAD,
            json!({ "threshold": 0.5, "neg_threshold": 0.35, "min_speech_ms": 250, "min_silence_ms": 100, "speech_pad_ms": 30 }),
        );
        same(
            &TRANSCRIPT,
            json!({ "decoding": "greedy", "timestamps": true, "window_secs": 30, "vad_chunks": true }),
        );
        same(
            &SummaryParams {
                prompt: "summary-v1",
                max_words: 60,
                piece_chars: 4000,
                temperature: 0.0,
            },
            json!({ "prompt": "summary-v1", "max_words": 60, "piece_chars": 4000, "temperature": 0.0 }),
        );
        same(
            &ComposeParams {
                prompt: "describe-v1",
                temperature: 0.0,
                max_tokens: 80,
            },
            json!({ "prompt": "describe-v1", "temperature": 0.0, "max_tokens": 80 }),
        );
        same(
            &EMBEDDINGS,
            json!({ "window_tokens": 256, "overlap_tokens": 32, "pooling": "mean", "normalised": true }),
        );
        let (speed, silence) = (1.1f32, 0.2f32);
        same(
            &SpeechParams {
                speed,
                sentence_silence: silence,
            },
            json!({ "speed": speed, "sentence_silence": silence }),
        );
    }
}
