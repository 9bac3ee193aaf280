//! Small helpers the pipelines share: blocking work off the async loop, and the model crate's
//! errors as step errors.

use tessera_models::audio::AudioError;
use tessera_models::media::MediaError;
use tessera_models::vision::VisionError;

use crate::jobs::StepError;
use crate::HasErrorCode;

/// Runs CPU work off the async loop.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StepError> + Send + 'static,
) -> Result<T, StepError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StepError::internal(e.to_string()))?
}

pub(super) fn vision_error(e: VisionError) -> StepError {
    if e.is_input_error() {
        StepError::bad_input(e.error_code(), e.to_string())
    } else {
        StepError::transient(e.error_code(), e.to_string())
    }
}

pub(super) fn audio_error(e: AudioError) -> StepError {
    match e {
        AudioError::Runtime(_) => StepError::transient(e.error_code(), e.to_string()),
        _ => StepError::bad_input(e.error_code(), e.to_string()),
    }
}

pub(super) fn media_error(e: MediaError) -> StepError {
    if e.is_client_error() {
        StepError::bad_input(e.error_code(), e.to_string())
    } else {
        StepError::transient(e.error_code(), e.to_string())
    }
}

/// Lowercase hex sha256 of `bytes`: the key of a derived input in the result cache.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
