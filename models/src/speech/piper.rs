//! Piper voices (VITS, ONNX): phoneme ids in, float audio in [-1, 1] out. Each sentence is
//! synthesised on its own and the sentences are joined with a short silence, as Piper does.
//! The model is random (it samples noise), so the same text never gives identical samples.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use ort::value::TensorRef;
use serde::Deserialize;

use super::phonemes::{Phonemizer, Sentence};
use super::SpeechError;
use crate::runtime::{Model, OnnxRuntime, OnnxSession, RuntimeError, SessionOptions};

/// The phoneme that starts every utterance.
const BOS: char = '^';
/// The phoneme that ends every utterance.
const EOS: char = '$';
/// The pad put after every phoneme.
const PAD: char = '_';
/// Longest phoneme string run in one go; longer sentences are cut at spaces, because the
/// model's attention grows with the square of the length.
pub const MAX_CHUNK_PHONEMES: usize = 400;
/// Slowest and fastest speaking rates accepted; others are clamped.
pub const SPEED_RANGE: (f32, f32) = (0.25, 4.0);
/// Longest silence between sentences accepted, in seconds.
pub const MAX_SENTENCE_SILENCE: f32 = 2.0;
/// Largest voice config read.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// How to speak.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SynthOptions {
    /// Speaking rate: 2.0 is twice as fast. Clamped to [`SPEED_RANGE`]; not finite means 1.0.
    pub speed: f32,
    /// Silence between sentences in seconds (Piper's default 0.2), clamped to
    /// 0..=[`MAX_SENTENCE_SILENCE`].
    pub sentence_silence: f32,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            speed: 1.0,
            sentence_silence: 0.2,
        }
    }
}

impl SynthOptions {
    /// The speed actually used.
    pub fn effective_speed(&self) -> f32 {
        if self.speed.is_finite() {
            self.speed.clamp(SPEED_RANGE.0, SPEED_RANGE.1)
        } else {
            1.0
        }
    }

    /// The silence between sentences actually used, in seconds.
    pub fn effective_silence(&self) -> f32 {
        if self.sentence_silence.is_finite() {
            self.sentence_silence.clamp(0.0, MAX_SENTENCE_SILENCE)
        } else {
            0.2
        }
    }
}

/// Synthesised speech: mono float samples in [-1, 1].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Speech {
    /// The samples.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Speech {
    /// How long it lasts, in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            0.0
        } else {
            self.samples.len() as f64 / f64::from(self.sample_rate)
        }
    }

    /// The largest absolute sample.
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0, |m, s| m.max(s.abs()))
    }
}

/// What a voice needs from its `.onnx.json`.
#[derive(Clone, Debug)]
pub struct VoiceConfig {
    /// Samples per second of the model's output.
    pub sample_rate: u32,
    /// The espeak-ng voice that phonemises for it.
    pub espeak_voice: String,
    /// Noise scale (variation of the sound).
    pub noise_scale: f32,
    /// Length scale at speed 1 (larger is slower).
    pub length_scale: f32,
    /// Noise width (variation of phoneme durations).
    pub noise_w: f32,
    /// The id(s) of each phoneme.
    pub phoneme_id_map: HashMap<char, Vec<i64>>,
}

#[derive(Deserialize)]
struct RawConfig {
    audio: RawAudio,
    espeak: RawEspeak,
    #[serde(default)]
    inference: RawInference,
    #[serde(default)]
    num_speakers: Option<u32>,
    #[serde(default)]
    phoneme_type: Option<String>,
    phoneme_id_map: HashMap<String, Vec<i64>>,
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}

#[derive(Deserialize)]
#[serde(default)]
struct RawInference {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

impl Default for RawInference {
    fn default() -> Self {
        RawInference {
            noise_scale: 0.667,
            length_scale: 1.0,
            noise_w: 0.8,
        }
    }
}

impl VoiceConfig {
    /// Reads and checks a voice's `.onnx.json`.
    pub fn load(path: &Path) -> Result<Self, SpeechError> {
        let err = |message: String| SpeechError::Config {
            path: path.display().to_string(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| err(e.to_string()))?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(err(format!("larger than {MAX_CONFIG_BYTES} bytes")));
        }
        Self::parse(&text).map_err(err)
    }

    /// Parses and checks the JSON of a voice config.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if !(8_000..=192_000).contains(&raw.audio.sample_rate) {
            return Err(format!(
                "sample rate {} is out of range",
                raw.audio.sample_rate
            ));
        }
        if let Some(kind) = raw.phoneme_type.as_deref() {
            if kind != "espeak" {
                return Err(format!(
                    "phoneme type {kind:?} is not supported (only espeak)"
                ));
            }
        }
        if raw.num_speakers.unwrap_or(1) > 1 {
            return Err("multi-speaker voices are not supported".into());
        }
        let inf = &raw.inference;
        let scales_ok = [inf.noise_scale, inf.length_scale, inf.noise_w]
            .iter()
            .all(|s| s.is_finite() && *s >= 0.0)
            && inf.length_scale > 0.0;
        if !scales_ok {
            return Err("inference scales must be finite, length_scale positive".into());
        }
        let mut map = HashMap::with_capacity(raw.phoneme_id_map.len());
        for (key, ids) in raw.phoneme_id_map {
            let mut chars = key.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    if ids.iter().any(|&id| id < 0) {
                        return Err(format!("phoneme {key:?} has a negative id"));
                    }
                    map.insert(c, ids);
                }
                _ => return Err(format!("phoneme key {key:?} is not one character")),
            }
        }
        for needed in [BOS, EOS, PAD] {
            if map.get(&needed).is_none_or(Vec::is_empty) {
                return Err(format!("phoneme_id_map has no id for {needed:?}"));
            }
        }
        Ok(VoiceConfig {
            sample_rate: raw.audio.sample_rate,
            espeak_voice: raw.espeak.voice,
            noise_scale: inf.noise_scale,
            length_scale: inf.length_scale,
            noise_w: inf.noise_w,
            phoneme_id_map: map,
        })
    }

    fn ids_of(&self, c: char) -> &[i64] {
        self.phoneme_id_map.get(&c).map_or(&[], Vec::as_slice)
    }

    /// Piper's id layout: `[^, _, p1, _, p2, _, …, pn, _, $]` (1 0 p1 0 … pn 0 2 for the usual
    /// map). Phonemes the map lacks are skipped.
    pub fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let pad = self.ids_of(PAD);
        let mut ids = Vec::with_capacity(2 * phonemes.len() + 3);
        ids.extend_from_slice(self.ids_of(BOS));
        ids.extend_from_slice(pad);
        for c in phonemes.chars() {
            let mapped = self.ids_of(c);
            if mapped.is_empty() {
                continue;
            }
            ids.extend_from_slice(mapped);
            ids.extend_from_slice(pad);
        }
        ids.extend_from_slice(self.ids_of(EOS));
        ids
    }
}

/// A loaded Piper voice and the phonemiser for its language.
pub struct PiperVoice {
    session: OnnxSession,
    config: VoiceConfig,
    phonemizer: Phonemizer,
}

impl PiperVoice {
    /// Loads the voice in a model folder: the one `*.onnx` file there and its `.onnx.json`.
    pub fn load(dir: &Path, options: &SessionOptions) -> Result<Self, SpeechError> {
        let model = find_model(dir)?;
        let mut config = model.clone().into_os_string();
        config.push(".json");
        Self::load_files(&model, Path::new(&config), options)
    }

    /// Loads a voice from its model and config files.
    pub fn load_files(
        model: &Path,
        config: &Path,
        options: &SessionOptions,
    ) -> Result<Self, SpeechError> {
        let config = VoiceConfig::load(config)?;
        let phonemizer = Phonemizer::new(&config.espeak_voice)?;
        let session = OnnxRuntime::get()?.session(model, options)?;
        Ok(PiperVoice {
            session,
            config,
            phonemizer,
        })
    }

    /// The voice's config.
    pub fn config(&self) -> &VoiceConfig {
        &self.config
    }

    /// The phonemiser the voice uses.
    pub fn phonemizer(&self) -> &Phonemizer {
        &self.phonemizer
    }

    /// Samples per second of the speech this voice makes.
    pub fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    /// Speaks a text. Blank text gives empty speech; text with nothing espeak-ng can pronounce
    /// gives [`SpeechError::NothingToSay`]; text over the length limit is refused.
    pub fn synthesize(&mut self, text: &str, opts: &SynthOptions) -> Result<Speech, SpeechError> {
        let sentences = self.phonemizer.phonemize(text)?;
        let speech = self.synthesize_sentences(&sentences, opts)?;
        if speech.samples.is_empty() && !text.trim().is_empty() {
            return Err(SpeechError::NothingToSay);
        }
        Ok(speech)
    }

    /// Speaks sentences already phonemised, joined by the sentence silence.
    pub fn synthesize_sentences(
        &mut self,
        sentences: &[Sentence],
        opts: &SynthOptions,
    ) -> Result<Speech, SpeechError> {
        let rate = self.config.sample_rate;
        let gap = (opts.effective_silence() * rate as f32).round() as usize;
        let mut samples = Vec::new();
        for sentence in sentences {
            for chunk in chunks(&sentence.phonemes, MAX_CHUNK_PHONEMES) {
                let ids = self.config.phoneme_ids(chunk);
                // Only BOS, pad and EOS: nothing the voice knows.
                if ids.len() <= 3 {
                    continue;
                }
                let audio = self.run(&ids, opts)?;
                if audio.is_empty() {
                    continue;
                }
                if !samples.is_empty() {
                    samples.resize(samples.len() + gap, 0.0);
                }
                samples.extend(audio);
            }
        }
        Ok(Speech {
            samples,
            sample_rate: rate,
        })
    }

    /// One run of the model over phoneme ids.
    fn run(&mut self, ids: &[i64], opts: &SynthOptions) -> Result<Vec<f32>, SpeechError> {
        let len = ids.len();
        let input = Array2::from_shape_vec((1, len), ids.to_vec())
            .map_err(|e| self.session.output_error(e.to_string()))?;
        let lengths = Array1::from_vec(vec![len as i64]);
        let scales = Array1::from_vec(vec![
            self.config.noise_scale,
            self.config.length_scale / opts.effective_speed(),
            self.config.noise_w,
        ]);
        let model = self.session.name().to_owned();
        let tensor_err = |e: ort::Error| RuntimeError::Inference {
            model: model.clone(),
            message: e.to_string(),
        };
        let input_t = TensorRef::from_array_view(&input).map_err(tensor_err)?;
        let lengths_t = TensorRef::from_array_view(&lengths).map_err(tensor_err)?;
        let scales_t = TensorRef::from_array_view(&scales).map_err(tensor_err)?;
        let outputs = self.session.run(ort::inputs![
            "input" => input_t,
            "input_lengths" => lengths_t,
            "scales" => scales_t,
        ])?;
        let output = outputs.get("output").ok_or_else(|| RuntimeError::Output {
            model: model.clone(),
            message: "no `output` tensor".into(),
        })?;
        let audio = output
            .try_extract_array::<f32>()
            .map_err(|e| RuntimeError::Output {
                model: model.clone(),
                message: e.to_string(),
            })?;
        // Clamp, and silence anything not finite, so encoders never see out-of-range samples.
        Ok(audio
            .iter()
            .map(|&s| {
                if s.is_finite() {
                    s.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect())
    }
}

/// The single `*.onnx` file of a voice folder.
fn find_model(dir: &Path) -> Result<PathBuf, SpeechError> {
    let missing = || {
        SpeechError::Runtime(RuntimeError::ModelMissing {
            path: dir.join("*.onnx").display().to_string(),
        })
    };
    let entries = std::fs::read_dir(dir).map_err(|_| missing())?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "onnx") && p.is_file())
        .collect();
    found.sort();
    match found.len() {
        0 => Err(missing()),
        1 => Ok(found.remove(0)),
        _ => Err(SpeechError::Runtime(RuntimeError::Load {
            path: dir.display().to_string(),
            message: "more than one .onnx file; load the voice with load_files".into(),
        })),
    }
}

/// Cuts a phoneme string into pieces of at most `max` characters, at spaces where possible.
fn chunks(phonemes: &str, max: usize) -> Vec<&str> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut rest = phonemes.trim();
    while rest.chars().count() > max {
        // Byte offset just past the `max`th character.
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        // A space just after the `max`th character is a clean cut too.
        let window = limit + rest[limit..].chars().next().map_or(0, char::len_utf8);
        let cut = rest[..window]
            .rfind(' ')
            .filter(|&i| i > 0)
            .unwrap_or(limit);
        out.push(rest[..cut].trim());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// One request to a voice held by the model registry.
#[derive(Clone, Debug, Default)]
pub struct SynthRequest {
    /// What to say.
    pub text: String,
    /// How to say it.
    pub options: SynthOptions,
}

/// Runs one request at a time. A failure of the runtime is the outer error; a request the voice
/// refuses (too long, nothing to say) is the inner one, which keeps its [`SpeechError::code`].
impl Model for PiperVoice {
    type Request = SynthRequest;
    type Response = Result<Speech, SpeechError>;

    fn run_batch(
        &mut self,
        requests: Vec<SynthRequest>,
    ) -> Vec<Result<Result<Speech, SpeechError>, RuntimeError>> {
        requests
            .into_iter()
            .map(|r| match self.synthesize(&r.text, &r.options) {
                Ok(speech) => Ok(Ok(speech)),
                Err(SpeechError::Runtime(e)) => Err(e),
                Err(other) => Ok(Err(other)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_phoneme_strings_are_cut_at_spaces() {
        let s = "ab cd ef gh";
        assert_eq!(chunks(s, 5), ["ab cd", "ef gh"]);
        assert_eq!(chunks("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(chunks("  ", 3), Vec::<&str>::new());
        assert_eq!(chunks("ˈaː ˈbː", 4), ["ˈaː", "ˈbː"]);
    }

    #[test]
    fn configs_without_the_special_phonemes_are_refused() {
        let json = r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},
            "phoneme_id_map":{"_":[0],"^":[1]}}"#;
        assert!(VoiceConfig::parse(json).is_err());
        let json = r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},
            "phoneme_id_map":{"_":[0],"^":[1],"$":[2],"a":[14]}}"#;
        let c = VoiceConfig::parse(json).expect("valid");
        assert_eq!(c.phoneme_ids("aXa"), [1, 0, 14, 0, 14, 0, 2]);
    }

    #[test]
    fn speed_is_clamped() {
        let o = |speed| SynthOptions {
            speed,
            ..SynthOptions::default()
        };
        assert_eq!(o(100.0).effective_speed(), SPEED_RANGE.1);
        assert_eq!(o(0.0).effective_speed(), SPEED_RANGE.0);
        assert_eq!(o(f32::NAN).effective_speed(), 1.0);
    }
}
