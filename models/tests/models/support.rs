//! Shared by the model tests: where the installed models are.

use std::path::PathBuf;

use tessera_models::catalog::Catalog;

/// The install folder of a model of the shipped catalog. Fails, saying what to run, when the
/// model is not installed: model tests never skip.
pub fn model_dir(id: &str) -> PathBuf {
    Catalog::shipped()
        .require(id)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Word error rate of a hypothesis against a reference (word-level edit distance / words).
pub fn wer(reference: &str, hypothesis: &str) -> f32 {
    let r = words(reference);
    let h = words(hypothesis);
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f32 / r.len().max(1) as f32
}
