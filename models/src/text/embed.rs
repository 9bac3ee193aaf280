//! Sentence embeddings with all-MiniLM-L6-v2 (int8 ONNX): WordPiece tokens in, mean-pooled and
//! L2-normalised 384-dimensional vectors out. Long text is cut into overlapping token windows,
//! each embedded on its own, so nothing past the model's window is silently dropped.

use std::path::Path;

use ndarray::Array2;
use ort::value::TensorRef;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::runtime::{OnnxRuntime, OnnxSession, RuntimeError, SessionOptions};

/// Dimensions of one embedding.
pub const DIM: usize = 384;
/// Tokens per window, special tokens included (what sentence-transformers uses for this model).
pub const MAX_TOKENS: usize = 256;
/// Tokens two neighbouring chunks share.
pub const CHUNK_OVERLAP: usize = 32;

/// One window of a long text: its byte range in the text, and the text itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// The MiniLM embedding model and its tokenizer.
pub struct Embedder {
    session: OnnxSession,
    tokenizer: Tokenizer,
}

impl Embedder {
    /// Loads `model.onnx` and `tokenizer.json` from an installed model folder.
    pub fn load(dir: &Path, options: &SessionOptions) -> Result<Self, RuntimeError> {
        let session = OnnxRuntime::get()?.session(dir.join("model.onnx"), options)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| RuntimeError::Load {
                path: tokenizer_path.display().to_string(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| RuntimeError::Load {
                path: tokenizer_path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(Embedder { session, tokenizer })
    }

    /// The token ids of a text, with `[CLS]` and `[SEP]`, truncated to the window.
    pub fn tokens(&self, text: &str) -> Result<Vec<u32>, RuntimeError> {
        Ok(self.encode(text, true)?.get_ids().to_vec())
    }

    fn encode(&self, text: &str, special: bool) -> Result<tokenizers::Encoding, RuntimeError> {
        self.tokenizer
            .encode(text, special)
            .map_err(|e| RuntimeError::Inference {
                model: "tokenizer".into(),
                message: e.to_string(),
            })
    }

    /// Embeds a batch of texts in one model run (each truncated to the window).
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RuntimeError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = texts
            .iter()
            .map(|t| self.encode(t, true))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = encodings.len();
        let len = encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let mut ids = Array2::<i64>::zeros((batch, len));
        let mut mask = Array2::<i64>::zeros((batch, len));
        for (row, enc) in encodings.iter().enumerate() {
            for (col, (&id, &m)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .enumerate()
            {
                ids[[row, col]] = i64::from(id);
                mask[[row, col]] = i64::from(m);
            }
        }
        let types = Array2::<i64>::zeros((batch, len));
        let tensor_err = |e: ort::Error| RuntimeError::Inference {
            model: "minilm".into(),
            message: e.to_string(),
        };
        let ids_t = TensorRef::from_array_view(&ids).map_err(tensor_err)?;
        let mask_t = TensorRef::from_array_view(&mask).map_err(tensor_err)?;
        let types_t = TensorRef::from_array_view(&types).map_err(tensor_err)?;
        let outputs = self.session.run(ort::inputs![
            "input_ids" => ids_t,
            "attention_mask" => mask_t,
            "token_type_ids" => types_t,
        ])?;
        let hidden = outputs["last_hidden_state"]
            .try_extract_array::<f32>()
            .map_err(|e| RuntimeError::Output {
                model: "minilm".into(),
                message: e.to_string(),
            })?;
        if hidden.shape() != [batch, len, DIM] {
            return Err(RuntimeError::Output {
                model: "minilm".into(),
                message: format!("last_hidden_state has shape {:?}", hidden.shape()),
            });
        }
        let mut out = Vec::with_capacity(batch);
        for row in 0..batch {
            let mut v = vec![0f32; DIM];
            let mut count = 0f32;
            for col in 0..len {
                if mask[[row, col]] == 0 {
                    continue;
                }
                count += 1.0;
                for (d, slot) in v.iter_mut().enumerate() {
                    *slot += hidden[[row, col, d]];
                }
            }
            let count = count.max(1.0);
            v.iter_mut().for_each(|x| *x /= count);
            normalise(&mut v);
            out.push(v);
        }
        Ok(out)
    }

    /// Cuts a text into windows that each fit the model (see [`Chunker::chunks`]).
    pub fn chunks(&self, text: &str) -> Result<Vec<Chunk>, RuntimeError> {
        chunk_with(&self.tokenizer, text)
    }
}

/// The tokenizer alone, to cut text into windows away from the model's thread.
#[derive(Clone)]
pub struct Chunker {
    tokenizer: Tokenizer,
}

impl Chunker {
    /// Loads `tokenizer.json` from the embedding model's folder.
    pub fn load(dir: &Path) -> Result<Self, RuntimeError> {
        let path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&path).map_err(|e| RuntimeError::Load {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        // Whole texts: chunking and counting see every token.
        tokenizer
            .with_truncation(None)
            .map_err(|e| RuntimeError::Load {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(None);
        Ok(Chunker { tokenizer })
    }

    /// Cuts a text into windows that each fit the model, overlapping by [`CHUNK_OVERLAP`]
    /// tokens, cut at token boundaries. An empty text has no chunks.
    pub fn chunks(&self, text: &str) -> Result<Vec<Chunk>, RuntimeError> {
        chunk_with(&self.tokenizer, text)
    }

    /// The number of tokens the model reads for a text, `[CLS]` and `[SEP]` included, before
    /// any truncation to the window (so a caller can tell a text that does not fit).
    pub fn count_tokens(&self, text: &str) -> Result<usize, RuntimeError> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| RuntimeError::Inference {
                model: "tokenizer".into(),
                message: e.to_string(),
            })?;
        Ok(enc.get_ids().len())
    }
}

fn chunk_with(tokenizer: &Tokenizer, text: &str) -> Result<Vec<Chunk>, RuntimeError> {
    let mut tokenizer = tokenizer.clone();
    tokenizer
        .with_truncation(None)
        .map_err(|e| RuntimeError::Inference {
            model: "tokenizer".into(),
            message: e.to_string(),
        })?;
    tokenizer.with_padding(None);
    let enc = tokenizer
        .encode(text, false)
        .map_err(|e| RuntimeError::Inference {
            model: "tokenizer".into(),
            message: e.to_string(),
        })?;
    let offsets = enc.get_offsets();
    let window = MAX_TOKENS - 2;
    let mut chunks = Vec::new();
    let mut first = 0;
    while first < offsets.len() {
        let last = (first + window).min(offsets.len()) - 1;
        let (start, end) = (offsets[first].0, offsets[last].1);
        chunks.push(Chunk {
            start,
            end,
            text: text.get(start..end).unwrap_or_default().to_string(),
        });
        if last + 1 == offsets.len() {
            break;
        }
        first = last + 1 - CHUNK_OVERLAP;
    }
    Ok(chunks)
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two vectors (the dot product, for normalised ones).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

impl crate::runtime::Model for Embedder {
    type Request = String;
    type Response = Vec<f32>;

    fn max_batch(&self) -> usize {
        32
    }

    fn run_batch(&mut self, requests: Vec<String>) -> Vec<Result<Vec<f32>, RuntimeError>> {
        let texts: Vec<&str> = requests.iter().map(String::as_str).collect();
        match self.embed(&texts) {
            Ok(vectors) => vectors.into_iter().map(Ok).collect(),
            Err(e) => {
                let message = e.to_string();
                texts
                    .iter()
                    .map(|_| {
                        Err(RuntimeError::Inference {
                            model: "minilm".into(),
                            message: message.clone(),
                        })
                    })
                    .collect()
            }
        }
    }
}
