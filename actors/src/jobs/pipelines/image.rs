//! The image pipeline: labels, the text in the picture, EXIF facts, a description composed
//! from them, and embeddings of all that.

use std::path::Path;

use tessera_events::content::analysis::{Exif, GpsPosition, ImageAnalysis, Label};
use tessera_events::content::Analysis;
use tessera_events::jobs::JobRequested;
use tessera_models::vision::{decode_image, read_exif, ExifFacts};

use super::grounding::content_words;
use super::statements::{image_statements, joined};
use super::support::{blocking, vision_error};
use super::{Pipelines, ProgressSink};
use crate::jobs::StepError;

impl Pipelines {
    pub(super) async fn image(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<Analysis, StepError> {
        let path = file.to_path_buf();
        let limits = self.options.image_limits;
        // Where a photo was taken is kept only when its owner said so at upload.
        let allow_gps = request.keep_location;
        let (image, exif) = blocking(move || {
            let bytes = std::fs::read(&path).map_err(|e| StepError::internal(e.to_string()))?;
            let exif = read_exif(&bytes, allow_gps);
            let image = decode_image(&bytes, &limits).map_err(vision_error)?;
            Ok((image, exif))
        })
        .await?;
        let size = (image.width(), image.height());
        let mut provenance = Vec::new();
        progress.report("classifying", 20).await;
        let labels = self
            .labels(&request.sha256, image.clone(), &mut provenance)
            .await?;
        progress.report("reading text", 45).await;
        let ocr = self
            .read_image_text(&request.sha256, image, &mut provenance)
            .await?;
        progress.report("describing", 70).await;
        let mut statements = image_statements(&labels, &ocr, size);
        let prose = self.describe(&labels, &ocr.text, &mut provenance).await?;
        // Model sentences that only repeat the findings' words add nothing to them.
        let said = joined(&statements).to_lowercase();
        statements.extend(prose.into_iter().filter(|s| !repeats(&said, &s.text)));
        let description = joined(&statements);
        progress.report("embedding", 90).await;
        let derived = derived_text(&labels, &ocr.text, &description);
        let embeddings = self
            .embed_text(&request.sha256, "derived", &derived, &mut provenance)
            .await?;
        Ok(Analysis::Image(ImageAnalysis {
            labels,
            ocr,
            exif: exif_finding(exif),
            description,
            statements,
            embeddings,
            provenance,
        }))
    }
}

fn exif_finding(e: ExifFacts) -> Exif {
    Exif {
        captured_at: e.captured_at,
        camera_make: e.camera_make,
        camera_model: e.camera_model,
        orientation: e.orientation,
        gps: e.gps.map(|g| GpsPosition {
            latitude: g.latitude,
            longitude: g.longitude,
        }),
    }
}

/// Whether every content word of `sentence` already appears in `said` (lower case).
fn repeats(said: &str, sentence: &str) -> bool {
    content_words(sentence).all(|w| said.contains(&w))
}

/// The text derived from an image, for its embeddings.
fn derived_text(labels: &[Label], ocr: &str, description: &str) -> String {
    let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
    format!("{}\n{}\n{}", names.join(", "), ocr, description)
}
