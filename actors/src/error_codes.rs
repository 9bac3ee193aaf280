//! The [`ErrorCode`] of each failure the model crate reports. `tessera-models` depends on no crate
//! of ours, so its errors are given their codes here, where both are known.

use tessera_events::ErrorCode;
use tessera_models::audio::AudioError;
use tessera_models::media::MediaError;
use tessera_models::runtime::llama::LlamaError;
use tessera_models::speech::SpeechError;
use tessera_models::vision::VisionError;

/// A failure with a stable [`ErrorCode`].
pub trait HasErrorCode {
    /// The code clients and failed jobs see for this failure.
    fn error_code(&self) -> ErrorCode;
}

impl HasErrorCode for MediaError {
    fn error_code(&self) -> ErrorCode {
        match self {
            MediaError::EmptyFile => ErrorCode::EmptyFile,
            MediaError::UnsupportedType(_) => ErrorCode::UnsupportedType,
            MediaError::CorruptImage(_) => ErrorCode::CorruptImage,
            MediaError::ImageTooLarge(_) => ErrorCode::ImageTooLarge,
            MediaError::CorruptAudio(_) => ErrorCode::CorruptAudio,
            MediaError::AudioTooLong { .. } => ErrorCode::AudioTooLong,
            MediaError::CorruptVideo(_) => ErrorCode::CorruptVideo,
            MediaError::VideoTooLong { .. } => ErrorCode::VideoTooLong,
            MediaError::InvalidText(_) => ErrorCode::InvalidText,
            MediaError::TextTooLarge { .. } => ErrorCode::TextTooLarge,
            MediaError::ToolMissing { .. } => ErrorCode::ToolMissing,
            MediaError::ToolTimeout { .. } => ErrorCode::ToolTimeout,
            MediaError::Io(_) => ErrorCode::Io,
        }
    }
}

impl HasErrorCode for SpeechError {
    fn error_code(&self) -> ErrorCode {
        match self {
            SpeechError::TextTooLong { .. } => ErrorCode::TextTooLong,
            SpeechError::NothingToSay => ErrorCode::NothingToSay,
            SpeechError::InvalidVoice(_) => ErrorCode::InvalidVoice,
            SpeechError::Config { .. } => ErrorCode::VoiceConfig,
            SpeechError::ToolMissing { .. } => ErrorCode::ToolMissing,
            SpeechError::EncoderMissing { .. } => ErrorCode::EncoderMissing,
            SpeechError::ToolTimeout { .. } => ErrorCode::ToolTimeout,
            SpeechError::ToolFailed { .. } => ErrorCode::ToolFailed,
            SpeechError::Encode(_) => ErrorCode::EncodeFailed,
            SpeechError::Runtime(_) => ErrorCode::Runtime,
            SpeechError::Io(_) => ErrorCode::Io,
        }
    }
}

impl HasErrorCode for AudioError {
    fn error_code(&self) -> ErrorCode {
        match self {
            AudioError::Unreadable { .. } => ErrorCode::AudioUnreadable,
            AudioError::Unsupported { .. } => ErrorCode::AudioUnsupported,
            AudioError::Corrupt { .. } => ErrorCode::AudioCorrupt,
            AudioError::TooLong { .. } => ErrorCode::AudioTooLong,
            AudioError::SampleRate { .. } => ErrorCode::AudioBadSampleRate,
            AudioError::Resample { .. } => ErrorCode::AudioResampleFailed,
            AudioError::Runtime(_) => ErrorCode::ModelFailed,
        }
    }
}

impl HasErrorCode for VisionError {
    fn error_code(&self) -> ErrorCode {
        match self {
            VisionError::TooLarge(_) => ErrorCode::ImageTooLarge,
            VisionError::Corrupt(_) => ErrorCode::ImageCorrupt,
            VisionError::Unsupported(_) => ErrorCode::ImageUnsupported,
            VisionError::Io(_) => ErrorCode::ImageUnreadable,
            VisionError::Runtime(_) => ErrorCode::InferenceFailed,
        }
    }
}

impl HasErrorCode for LlamaError {
    fn error_code(&self) -> ErrorCode {
        match self {
            LlamaError::Backend(_) => ErrorCode::LlamaBackend,
            LlamaError::ModelMissing { .. } => ErrorCode::ModelMissing,
            LlamaError::Load { .. } => ErrorCode::ModelLoad,
            LlamaError::InvalidMessages(_) => ErrorCode::InvalidMessages,
            LlamaError::InvalidOptions(_) => ErrorCode::InvalidOptions,
            LlamaError::EmptyPrompt => ErrorCode::EmptyPrompt,
            LlamaError::ContextExceeded { .. } => ErrorCode::ContextExceeded,
            LlamaError::InputTooLarge { .. } => ErrorCode::InputTooLarge,
            LlamaError::Context { .. } => ErrorCode::ContextCreate,
            LlamaError::Decode(_) => ErrorCode::DecodeFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes are the ones the model crate names its failures by, so stored codes keep meaning.
    #[test]
    fn codes_match_the_model_crates_names() {
        let media = [
            MediaError::EmptyFile,
            MediaError::UnsupportedType("x".into()),
            MediaError::CorruptImage("x".into()),
            MediaError::InvalidText("x".into()),
        ];
        for e in media {
            assert_eq!(e.error_code().as_str(), e.code(), "{e}");
        }
        let speech = [
            SpeechError::NothingToSay,
            SpeechError::InvalidVoice("x".into()),
        ];
        for e in speech {
            assert_eq!(e.error_code().as_str(), e.code(), "{e}");
        }
        let vision = [
            VisionError::TooLarge("x".into()),
            VisionError::Corrupt("x".into()),
            VisionError::Unsupported("x".into()),
        ];
        for e in vision {
            assert_eq!(e.error_code().as_str(), e.code(), "{e}");
        }
        let llama = [
            LlamaError::EmptyPrompt,
            LlamaError::InvalidMessages("x".into()),
            LlamaError::InputTooLarge { bytes: 2, limit: 1 },
            LlamaError::Decode("x".into()),
        ];
        for e in llama {
            assert_eq!(e.error_code().as_str(), e.code(), "{e}");
        }
    }
}
