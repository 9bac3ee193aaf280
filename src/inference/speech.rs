//! Text to speech with this node's voice, encoded in the format asked for.

use std::time::Instant;

use tessera_actors::jobs::Pipelines;
use tessera_events::content::Modality;
use tessera_events::jobs::Provenance;
use tessera_events::UserId;
use tessera_models::speech::encode::check_encoder;
use tessera_models::speech::{encode, AudioFormat, SynthOptions};

use super::metering::{kind, Metered};
use super::{Inference, InferenceError};

/// Speech made and encoded.
#[derive(Debug)]
pub struct Spoken {
    /// The audio file's bytes.
    pub bytes: Vec<u8>,
    pub seconds: f64,
    /// The voice's step, with the format among its parameters.
    pub provenance: Provenance,
}

/// Speaks `text` at `speed` and encodes it as `format`.
pub async fn synthesize(
    pipelines: &Pipelines,
    text: &str,
    speed: f32,
    format: AudioFormat,
) -> Result<Spoken, InferenceError> {
    let options = SynthOptions {
        speed,
        ..SynthOptions::default()
    };
    let (speech, mut provenance) = pipelines.speak(text, options).await?;
    let seconds = speech.duration_secs();
    let bytes = tokio::task::spawn_blocking(move || encode(&speech, format))
        .await
        .map_err(InferenceError::internal)??;
    if let Some(p) = provenance.parameters.as_object_mut() {
        p.insert("format".into(), format.extension().into());
    }
    Ok(Spoken {
        bytes,
        seconds,
        provenance,
    })
}

impl Inference {
    /// Speaks `text` for `user` with `model` (metered under that name): refused before any
    /// work when this server cannot write `format`.
    pub async fn speak(
        &self,
        user: UserId,
        model: String,
        text: &str,
        speed: f32,
        format: AudioFormat,
    ) -> Result<Spoken, InferenceError> {
        tokio::task::spawn_blocking(move || check_encoder(format))
            .await
            .map_err(InferenceError::internal)?
            .map_err(|e| InferenceError::NoEncoder {
                format: format.extension(),
                reason: e.to_string(),
            })?;
        self.metering.gate(user).await?;
        let started = Instant::now();
        let spoken = synthesize(&self.pipelines, text, speed, format).await?;
        let metered = Metered::since(kind::SPEECH, Modality::Audio, model, started)
            .audio_seconds(spoken.seconds);
        self.metering.record_done(user, metered).await;
        Ok(spoken)
    }
}
