//! Text in a picture: its lines with their boxes, cached by the picture's sha256.

use image::DynamicImage;
use tessera_events::content::analysis::{step, OcrLine, OcrText};
use tessera_events::jobs::Provenance;

use super::params::OCR;
use super::Pipelines;
use crate::jobs::cache::cached;
use crate::jobs::StepError;

impl Pipelines {
    /// The text in an image, line by line in reading order, with boxes.
    pub(super) async fn read_image_text(
        &self,
        sha256: &str,
        image: DynamicImage,
        provenance: &mut Vec<Provenance>,
    ) -> Result<OcrText, StepError> {
        let (ocr, p) = cached(
            self.store.as_ref(),
            sha256,
            step::IMAGE_OCR,
            &self.ocr.info,
            &OCR,
            async {
                let r = self.ocr.infer(image).await?;
                Ok(OcrText {
                    text: r.text,
                    lines: r
                        .lines
                        .into_iter()
                        .map(|l| OcrLine {
                            text: l.text,
                            score: l.score,
                            bbox: l.bbox,
                        })
                        .collect(),
                })
            },
        )
        .await?;
        provenance.push(p);
        Ok(ocr)
    }
}
