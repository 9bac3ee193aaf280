//! Image classification: the top labels of a picture, cached by its sha256.

use image::DynamicImage;
use tessera_events::content::analysis::{step, Label};
use tessera_events::jobs::Provenance;

use super::params::LabelParams;
use super::Pipelines;
use crate::jobs::cache::cached;
use crate::jobs::StepError;

impl Pipelines {
    /// The top labels of an image, most likely first.
    pub(super) async fn labels(
        &self,
        sha256: &str,
        image: DynamicImage,
        provenance: &mut Vec<Provenance>,
    ) -> Result<Vec<Label>, StepError> {
        let top = self.options.top_labels;
        let (labels, p) = cached(
            self.store.as_ref(),
            sha256,
            step::IMAGE_LABELS,
            &self.classifier.info,
            &LabelParams::new(top),
            async {
                let labels = self.classifier.infer(image).await?;
                Ok(labels
                    .into_iter()
                    .take(top)
                    .map(|l| Label {
                        index: l.index,
                        name: l.name,
                        score: l.score,
                    })
                    .collect::<Vec<_>>())
            },
        )
        .await?;
        provenance.push(p);
        Ok(labels)
    }
}
