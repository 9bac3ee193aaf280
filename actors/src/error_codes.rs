//! The [`ErrorCode`] of each failure the model crate reports. `tessera-models` depends on no crate
//! of ours, so its errors are given their codes here, where both are known.

use tessera_events::ErrorCode;
use tessera_models::audio::AudioError;
use tessera_models::media::MediaError;
use tessera_models::runtime::llama::LlamaError;
use tessera_models::runtime::InputFault;
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

impl HasErrorCode for InputFault {
    fn error_code(&self) -> ErrorCode {
        match self {
            InputFault::ContextExceeded => ErrorCode::ContextExceeded,
            InputFault::InputTooLarge => ErrorCode::InputTooLarge,
            InputFault::InvalidMessages => ErrorCode::InvalidMessages,
            InputFault::InvalidOptions => ErrorCode::InvalidOptions,
            InputFault::EmptyPrompt => ErrorCode::EmptyPrompt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failed jobs in the log carry these codes as text; they must keep reading the same.
    #[test]
    fn stored_codes_keep_their_names() {
        let cases: [(&dyn HasErrorCode, &str); 8] = [
            (&MediaError::EmptyFile, "empty_file"),
            (&MediaError::CorruptImage("x".into()), "corrupt_image"),
            (&SpeechError::NothingToSay, "nothing_to_say"),
            (&VisionError::Corrupt("x".into()), "image_corrupt"),
            (
                &AudioError::Corrupt {
                    message: "x".into(),
                },
                "audio_corrupt",
            ),
            (&LlamaError::EmptyPrompt, "empty_prompt"),
            (
                &LlamaError::InputTooLarge { bytes: 2, limit: 1 },
                "input_too_large",
            ),
            (&LlamaError::Decode("x".into()), "decode_failed"),
        ];
        for (e, stored) in cases {
            assert_eq!(e.error_code().as_str(), stored);
        }
    }

    /// A llama input error keeps its code when it travels as a runtime error.
    #[test]
    fn input_faults_keep_the_llama_code() {
        let e = LlamaError::ContextExceeded {
            prompt_tokens: 9,
            max_tokens: 1,
            n_ctx: 8,
        };
        let code = e.error_code();
        match tessera_models::runtime::RuntimeError::from(e) {
            tessera_models::runtime::RuntimeError::Rejected { fault, .. } => {
                assert_eq!(fault.error_code(), code)
            }
            other => panic!("not a rejection: {other}"),
        }
    }
}
