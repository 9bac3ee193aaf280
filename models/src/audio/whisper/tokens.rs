//! Whisper's vocabulary: token ids to bytes (GPT-2 byte-level form), the special ids, and the
//! suppression lists of the model's config.json.

use std::collections::HashMap;
use std::path::Path;

use crate::runtime::RuntimeError;

/// Size of the vocabulary (and of the logits).
pub const VOCAB: usize = 51_864;
/// End of text.
pub const EOT: u32 = 50_256;
/// Start of transcript.
pub const SOT: u32 = 50_257;
/// "No speech" (`<|nocaptions|>` in tiny.en's vocabulary).
pub const NO_SPEECH: u32 = 50_361;
/// Asks for no timestamps (never emitted in timestamp mode).
pub const NO_TIMESTAMPS: u32 = 50_362;
/// The first timestamp, `<|0.00|>`; each next one is 0.02 s later.
pub const TIMESTAMP_BEGIN: u32 = 50_363;
/// Seconds per timestamp step.
pub const TIMESTAMP_STEP: f32 = 0.02;

/// Token bytes and the suppression lists.
pub struct Vocabulary {
    bytes: Vec<Vec<u8>>,
    /// Ids masked at every step.
    pub suppress: Vec<u32>,
    /// Ids masked at the first step only.
    pub suppress_begin: Vec<u32>,
}

#[derive(serde::Deserialize)]
struct Config {
    #[serde(default)]
    suppress_ids: Vec<u32>,
    #[serde(default)]
    suppress_ids_begin: Vec<u32>,
}

impl Vocabulary {
    /// Reads `vocabulary.txt` and `config.json` from the model folder.
    pub fn load(dir: &Path) -> Result<Self, RuntimeError> {
        let load_err = |path: &Path, message: String| RuntimeError::Load {
            path: path.display().to_string(),
            message,
        };
        let vocab_path = dir.join("vocabulary.txt");
        let text = std::fs::read_to_string(&vocab_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RuntimeError::ModelMissing {
                path: vocab_path.display().to_string(),
            },
            _ => load_err(&vocab_path, e.to_string()),
        })?;
        let decoder = byte_decoder();
        let bytes: Vec<Vec<u8>> = text
            .lines()
            .map(|line| {
                let mut out = Vec::with_capacity(line.len());
                for c in line.chars() {
                    match decoder.get(&c) {
                        Some(&b) => out.push(b),
                        None => {
                            let mut tmp = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                        }
                    }
                }
                out
            })
            .collect();
        if bytes.len() < VOCAB {
            return Err(load_err(
                &vocab_path,
                format!("{} tokens, expected {VOCAB}", bytes.len()),
            ));
        }
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|e| load_err(&config_path, e.to_string()))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| load_err(&config_path, e.to_string()))?;
        let in_range = |ids: Vec<u32>| ids.into_iter().filter(|&i| (i as usize) < VOCAB).collect();
        Ok(Vocabulary {
            bytes,
            suppress: in_range(config.suppress_ids),
            suppress_begin: in_range(config.suppress_ids_begin),
        })
    }

    /// The text of a run of tokens; special and timestamp tokens are skipped.
    pub fn decode(&self, tokens: &[u32]) -> String {
        let mut out = Vec::new();
        for &t in tokens {
            if t < EOT {
                if let Some(b) = self.bytes.get(t as usize) {
                    out.extend_from_slice(b);
                }
            }
        }
        String::from_utf8_lossy(&out).trim().to_string()
    }
}

/// GPT-2's map from the printable characters of its vocabulary back to bytes.
fn byte_decoder() -> HashMap<char, u8> {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u32..256 {
        let code = if printable(b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        if let Some(c) = char::from_u32(code) {
            map.insert(c, b as u8);
        }
    }
    map
}
