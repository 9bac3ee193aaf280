//! The text pipeline: embeddings of the text, and a summary of a long one.

use std::path::{Path, PathBuf};

use tessera_events::content::analysis::TextAnalysis;
use tessera_events::content::Analysis;
use tessera_events::jobs::JobRequested;

use super::{Pipelines, ProgressSink};
use crate::jobs::StepError;

/// The most text a pipeline reads from one item.
pub const MAX_TEXT_BYTES: u64 = 8 * 1024 * 1024;

impl Pipelines {
    pub(super) async fn text(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<Analysis, StepError> {
        let text = read_text(file.to_path_buf(), MAX_TEXT_BYTES).await?;
        progress.report("embedding", 30).await;
        let mut provenance = Vec::new();
        let embeddings = self
            .embed_text(&request.sha256, "text", &text, &mut provenance)
            .await?;
        let words = text.split_whitespace().count();
        progress.report("summarising", 60).await;
        let summary = self
            .summary(&request.sha256, &text, "text", &mut provenance)
            .await?;
        Ok(Analysis::Text(TextAnalysis {
            words,
            characters: text.chars().count(),
            summary,
            embeddings,
            provenance,
        }))
    }
}

/// Reads an item's text (UTF-8, invalid sequences replaced), at most `limit` bytes.
pub async fn read_text(path: PathBuf, limit: u64) -> Result<String, StepError> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let f = std::fs::File::open(&path).map_err(|e| StepError::internal(e.to_string()))?;
        let mut bytes = Vec::new();
        f.take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| StepError::internal(e.to_string()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    })
    .await
    .map_err(|e| StepError::internal(e.to_string()))?
}
