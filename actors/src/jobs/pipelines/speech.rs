//! Speech synthesis with the node's voice (interactive requests only: uploads are not spoken).

use std::time::Instant;

use tessera_events::content::analysis::step;
use tessera_events::jobs::Provenance;
use tessera_models::speech::{Speech, SynthOptions, SynthRequest};

use super::params::SpeechParams;
use super::Pipelines;
use crate::jobs::StepError;
use crate::HasErrorCode;

impl Pipelines {
    /// Speaks `text` with the node's voice. A request the voice refuses (too long, nothing to
    /// say) is a permanent error with the voice's code.
    pub async fn speak(
        &self,
        text: &str,
        options: SynthOptions,
    ) -> Result<(Speech, Provenance), StepError> {
        let started = Instant::now();
        let parameters = SpeechParams {
            speed: options.effective_speed(),
            sentence_silence: options.effective_silence(),
        };
        let speech = self
            .speech
            .infer(SynthRequest {
                text: text.to_owned(),
                options,
            })
            .await?
            .map_err(|e| StepError::bad_input(e.error_code(), e.to_string()))?;
        let provenance =
            self.speech
                .info
                .provenance(step::SPEECH_SYNTHESIS, &parameters, started.elapsed())?;
        Ok((speech, provenance))
    }
}
