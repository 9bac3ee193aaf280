//! Speech to text on this node's voice-activity and speech-recognition models.

use std::time::Instant;

use tessera_events::content::Modality;
use tessera_events::UserId;
use tessera_models::audio::Transcript;
use tessera_models::media::{self, Modality as MediaModality};

use super::metering::{kind, Metered};
use super::{Inference, InferenceError};
use crate::content::receive::TempFile;

/// What was said in a file.
#[derive(Debug)]
pub struct Transcribed {
    /// The file's length in seconds.
    pub duration: f64,
    pub transcript: Transcript,
}

impl Inference {
    /// The library's own limit on an audio file.
    pub fn max_audio_bytes(&self) -> u64 {
        self.content.settings().max_audio_bytes
    }

    /// Transcribes a received file for `user` with `model` (metered under that name). Its type
    /// is decided from its content and checked by decoding it; the library's audio limits
    /// apply. The file is removed once read.
    pub async fn transcribe(
        &self,
        user: UserId,
        model: String,
        file: TempFile,
        sha256: &str,
    ) -> Result<Transcribed, InferenceError> {
        self.metering.gate(user).await?;
        let started = Instant::now();
        let limits = self.content.settings().media_limits();
        let path = file.path().to_owned();
        let probed = tokio::task::spawn_blocking(move || media::probe(&path, &limits))
            .await
            .map_err(InferenceError::internal)??;
        if probed.modality != MediaModality::Audio {
            return Err(InferenceError::NotAudio {
                modality: probed.modality,
                mime: probed.mime,
            });
        }
        let (duration, transcript, _provenance) =
            self.pipelines.transcribe_file(file.path(), sha256).await?;
        drop(file);
        let metered = Metered::since(kind::TRANSCRIPTION, Modality::Audio, model, started)
            .audio_seconds(duration);
        self.metering.record_done(user, metered).await;
        Ok(Transcribed {
            duration,
            transcript,
        })
    }
}
