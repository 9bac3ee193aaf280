//! The one list of error codes: HTTP error bodies, `/v1` errors, failed jobs, failed answers and
//! the WebSocket protocol's `error` frames all carry an [`ErrorCode`]. Clients branch on these,
//! never on messages, so a code once published is never renamed.
//!
//! Events keep codes as strings (events already in the log must stay readable); they are written
//! with [`ErrorCode::as_str`] and read back with [`ErrorCode::parse`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares [`ErrorCode`] once: each variant with its doc line and wire form; `as_str` and
/// `ALL` follow from the same list.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident => $wire:literal,)+) => {
        /// A stable, machine-readable error code (snake_case on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)+
                }
            }
        }
    };
}

error_codes! {
    /// A field of the request is not valid; `field` names it.
    ValidationFailed => "validation_failed",
    /// The resource does not exist, or is not the caller's.
    NotFound => "not_found",
    /// The caller may not do this (for example: it needs the admin role).
    Forbidden => "forbidden",
    /// A failure on the server's side; details are in its log, never in the response.
    InternalError => "internal_error",
    /// Too many requests or messages; retry after `Retry-After` seconds.
    RateLimited => "rate_limited",
    /// The resource was changed concurrently; retry.
    ConcurrentModification => "concurrent_modification",
    /// The request id was already used for a different request.
    IdempotencyConflict => "idempotency_conflict",
    /// The resource being created exists already.
    AlreadyExists => "already_exists",
    /// The JSON body does not parse, or does not match the expected shape.
    InvalidJson => "invalid_json",
    /// The query string does not parse.
    InvalidQuery => "invalid_query",
    /// A listing's cursor is not one this API gave.
    InvalidCursor => "invalid_cursor",
    /// The request body is larger than this endpoint accepts.
    PayloadTooLarge => "payload_too_large",
    /// The body's `Content-Type` is not one this endpoint takes.
    UnsupportedMediaType => "unsupported_media_type",
    /// The node cannot take this right now (shutting down, or a read model it needs is still
    /// being set up); retry, maybe elsewhere.
    Unavailable => "unavailable",
    /// A one-time link (setup, password reset) is unknown, used or expired.
    LinkInvalid => "link_invalid",
    /// The first administrator exists already; the setup link has nothing left to do.
    SetupDone => "setup_done",
    /// The API key's scopes do not cover this request.
    InsufficientScope => "insufficient_scope",
    /// The user holds as many API keys as allowed.
    TooManyApiKeys => "too_many_api_keys",
    /// The sign-in (or API key) was ended: signed out everywhere, a new password, or the
    /// account was disabled. Sign in again.
    SessionEnded => "session_ended",
    /// A request that changes something with the session cookie came from another site's page
    /// (or named none).
    CrossOrigin => "cross_origin",
    /// The blob store does not answer; retry after `Retry-After`.
    StorageUnavailable => "storage_unavailable",
    /// No credentials were presented.
    Unauthenticated => "unauthenticated",
    /// The email or the password is wrong.
    InvalidCredentials => "invalid_credentials",
    /// The token is invalid, revoked or unknown.
    InvalidToken => "invalid_token",
    /// The token has expired.
    TokenExpired => "token_expired",
    /// A refresh token was used twice; its session was revoked.
    RefreshTokenReused => "refresh_token_reused",
    /// The account is disabled.
    AccountDisabled => "account_disabled",
    /// The email address is already registered.
    EmailTaken => "email_taken",
    /// The password is too weak.
    WeakPassword => "weak_password",
    /// The email address is not valid.
    InvalidEmail => "invalid_email",
    /// Too many failed logins; retry after `Retry-After` seconds.
    LoginThrottled => "login_throttled",
    /// Too many sign-ups from this address; retry after `Retry-After` seconds.
    RegistrationThrottled => "registration_throttled",
    /// Sign-ups are closed on this server.
    RegistrationClosed => "registration_closed",
    /// The last active admin cannot be disabled or demoted.
    LastAdmin => "last_admin",
    /// A quota is used up; `field` names the limit.
    QuotaExceeded => "quota_exceeded",
    /// The day's processing time is used up, so previews were not made.
    ProcessingQuotaExceeded => "processing_quota_exceeded",
    /// A resumable upload's chunk does not start where the upload stands.
    OffsetMismatch => "offset_mismatch",
    /// A resumable upload's chunk goes past the declared length.
    PastDeclaredLength => "past_declared_length",
    /// A resumable upload's chunk has no `Upload-Offset` header.
    MissingOffset => "missing_offset",
    /// The resumable upload was closed or has expired.
    UploadClosed => "upload_closed",
    /// The resumable upload has not received all its bytes.
    UploadIncomplete => "upload_incomplete",
    /// The item stayed in the trash too long to be restored.
    RestoreExpired => "restore_expired",
    /// The requested byte range lies outside the file.
    RangeNotSatisfiable => "range_not_satisfiable",
    /// The file is larger than this server accepts.
    FileTooLarge => "file_too_large",
    /// A form field is larger than this server accepts.
    FieldTooLarge => "field_too_large",
    /// The request body ended early or could not be read.
    IncompleteBody => "incomplete_body",
    /// The request is not `multipart/form-data`.
    NotMultipart => "not_multipart",
    /// The multipart body does not parse.
    InvalidMultipart => "invalid_multipart",
    /// The form carries more than one file.
    TooManyFiles => "too_many_files",
    /// A form repeats a part more often than it may; `field` names the part.
    TooManyParts => "too_many_parts",
    /// The user has as many resumable uploads open as allowed.
    TooManyOpenUploads => "too_many_open_uploads",
    /// The form carries no file.
    MissingFile => "missing_file",
    /// A form field has a value of the wrong kind.
    InvalidField => "invalid_field",
    /// A form field is not one this endpoint knows.
    UnknownField => "unknown_field",
    /// The `Idempotency-Key` header is not valid.
    InvalidIdempotencyKey => "invalid_idempotency_key",
    /// The resource is still being made (a recording is still being recorded).
    NotReady => "not_ready",
    /// The file is empty.
    EmptyFile => "empty_file",
    /// The file is of a kind this server does not take.
    UnsupportedType => "unsupported_type",
    /// The image cannot be decoded.
    CorruptImage => "corrupt_image",
    /// The image has more pixels than this server accepts.
    ImageTooLarge => "image_too_large",
    /// The audio cannot be decoded.
    CorruptAudio => "corrupt_audio",
    /// The recording is longer than this server accepts.
    AudioTooLong => "audio_too_long",
    /// The video cannot be decoded.
    CorruptVideo => "corrupt_video",
    /// The video is longer than this server accepts.
    VideoTooLong => "video_too_long",
    /// The text is not valid UTF-8.
    InvalidText => "invalid_text",
    /// The text is larger than this server accepts.
    TextTooLarge => "text_too_large",
    /// An external tool the work needs is not installed.
    ToolMissing => "tool_missing",
    /// An external tool took too long.
    ToolTimeout => "tool_timeout",
    /// An external tool failed.
    ToolFailed => "tool_failed",
    /// Reading or writing a file failed on the server.
    Io => "io",
    /// The item's file could not be read by the processor.
    MediaUnavailable => "media_unavailable",
    /// A job failed its last attempt and was dead-lettered.
    AttemptsExhausted => "attempts_exhausted",
    /// No worker runs the job's modality on this node.
    NoWorker => "no_worker",
    /// A job's attempt took longer than its limit.
    Timeout => "timeout",
    /// A pipeline step or a WebSocket frame failed on the server's side.
    Internal => "internal",
    /// The audio file cannot be opened.
    AudioUnreadable => "audio_unreadable",
    /// The audio's format or codec is not supported.
    AudioUnsupported => "audio_unsupported",
    /// The audio cannot be decoded.
    AudioCorrupt => "audio_corrupt",
    /// The audio's sample rate is not usable.
    AudioBadSampleRate => "audio_bad_sample_rate",
    /// The audio could not be resampled.
    AudioResampleFailed => "audio_resample_failed",
    /// The image cannot be decoded for the vision models.
    ImageCorrupt => "image_corrupt",
    /// The image's format is not supported by the vision models.
    ImageUnsupported => "image_unsupported",
    /// The image cannot be read for the vision models.
    ImageUnreadable => "image_unreadable",
    /// A model failed while working on the input.
    ModelFailed => "model_failed",
    /// A model's inference failed.
    InferenceFailed => "inference_failed",
    /// The model's queue is full; retry shortly.
    ModelBusy => "model_busy",
    /// The model cannot be loaded or is not available.
    ModelUnavailable => "model_unavailable",
    /// The model's worker crashed during the request.
    ModelCrashed => "model_crashed",
    /// The model instance was stopped.
    ModelStopped => "model_stopped",
    /// The model's files are not installed on this server.
    ModelNotInstalled => "model_not_installed",
    /// The model's file is missing.
    ModelMissing => "model_missing",
    /// The model's file could not be loaded.
    ModelLoad => "model_load",
    /// The llama.cpp backend could not start.
    LlamaBackend => "llama_backend",
    /// llama.cpp could not create a context.
    ContextCreate => "context_create",
    /// llama.cpp failed while decoding.
    DecodeFailed => "decode_failed",
    /// The generation options are not valid.
    InvalidOptions => "invalid_options",
    /// The rendered prompt is empty.
    EmptyPrompt => "empty_prompt",
    /// The prompt and the answer do not fit the model's context window.
    ContextExceeded => "context_exceeded",
    /// The input is larger than the model takes.
    InputTooLarge => "input_too_large",
    /// A rebuild of this projection is already running.
    RebuildInProgress => "rebuild_in_progress",
    /// The quarantined event was already retried successfully or skipped.
    DeadLetterResolved => "dead_letter_resolved",
    /// The source item is of a kind this generation does not take.
    UnsupportedSource => "unsupported_source",
    /// No speech was heard in the source.
    NoSpeech => "no_speech",
    /// The source has nothing to summarise.
    NothingToSummarise => "nothing_to_summarise",
    /// The source's analysis is not ready yet.
    AnalysisPending => "analysis_pending",
    /// A generation's model step failed in a way that has no code of its own.
    GenerationFailed => "generation_failed",
    /// The voice is not one this server has.
    UnknownVoice => "unknown_voice",
    /// The audio format is not one this server makes.
    UnknownFormat => "unknown_format",
    /// There is no text to read aloud.
    EmptyText => "empty_text",
    /// The text is too long to read aloud in one request.
    TextTooLong => "text_too_long",
    /// The text has nothing that can be spoken.
    NothingToSay => "nothing_to_say",
    /// The voice's files are not valid.
    InvalidVoice => "invalid_voice",
    /// The voice's configuration is not valid.
    VoiceConfig => "voice_config",
    /// The audio encoder for the format is not installed.
    EncoderMissing => "encoder_missing",
    /// Encoding the speech failed.
    EncodeFailed => "encode_failed",
    /// The speech model failed.
    Runtime => "runtime",
    /// An answer is still being written in the conversation.
    AnswerInProgress => "answer_in_progress",
    /// The answer has already ended.
    AnswerNotActive => "answer_not_active",
    /// The answer took too long and was stopped.
    AnswerTimeout => "answer_timeout",
    /// The node writing the answer stopped before it finished.
    AnswerAbandoned => "answer_abandoned",
    /// The items attached to the conversation could not be read.
    ContextUnavailable => "context_unavailable",
    /// The chat provider is not one this server has.
    UnknownProvider => "unknown_provider",
    /// The chat provider was turned off by an admin.
    ProviderDisabled => "provider_disabled",
    /// The chat provider did not answer in time.
    ProviderTimeout => "provider_timeout",
    /// The chat provider could not be reached.
    ProviderUnreachable => "provider_unreachable",
    /// The chat provider refused the server's key.
    ProviderRefused => "provider_refused",
    /// The chat provider rejected the request.
    ProviderRejected => "provider_rejected",
    /// The chat provider is rate limiting requests.
    ProviderRateLimited => "provider_rate_limited",
    /// The chat provider does not have the configured model.
    ProviderModelNotFound => "provider_model_not_found",
    /// The chat provider answered with an error or an unreadable stream.
    ProviderError => "provider_error",
    /// /v1: the key (or token) is not valid.
    InvalidApiKey => "invalid_api_key",
    /// /v1: no key was presented.
    MissingApiKey => "missing_api_key",
    /// /v1: too many requests; retry after `Retry-After` seconds.
    RateLimitExceeded => "rate_limit_exceeded",
    /// /v1: the model does not exist on this server.
    ModelNotFound => "model_not_found",
    /// /v1: the model exists but does not do this task.
    ModelNotSupported => "model_not_supported",
    /// /v1: the input does not fit the model's context window.
    ContextLengthExceeded => "context_length_exceeded",
    /// /v1: the chat messages are not valid.
    InvalidMessages => "invalid_messages",
    /// /v1: a parameter has a value that is not valid.
    InvalidValue => "invalid_value",
    /// /v1: a parameter has the wrong JSON type.
    InvalidType => "invalid_type",
    /// /v1: the request body could not be read.
    InvalidBody => "invalid_body",
    /// /v1: a required parameter is missing.
    MissingField => "missing_field",
    /// /v1: a parameter is not one this server knows.
    UnknownParameter => "unknown_parameter",
    /// /v1: a parameter is known but not supported here.
    UnsupportedParameter => "unsupported_parameter",
    /// /v1: a parameter's value is known but not supported here.
    UnsupportedValue => "unsupported_value",
    /// /v1: a chat message's role is not supported.
    UnsupportedRole => "unsupported_role",
    /// /v1: a chat message's content part is not supported.
    UnsupportedContent => "unsupported_content",
    /// /v1: the chat request has no messages.
    EmptyMessages => "empty_messages",
    /// /v1: the input is empty.
    EmptyInput => "empty_input",
    /// /v1: the text to speak is longer than this server takes.
    InputTooLong => "input_too_long",
    /// /v1: more embedding inputs than one request takes.
    TooManyInputs => "too_many_inputs",
    /// /v1: the voice is not one this server has.
    UnsupportedVoice => "unsupported_voice",
    /// /v1: the response format is not one this server makes.
    UnsupportedResponseFormat => "unsupported_response_format",
    /// /v1: the audio file's type is not supported.
    UnsupportedFileType => "unsupported_file_type",
    /// /v1: the language is not one the model knows.
    UnsupportedLanguage => "unsupported_language",
    /// /v1: no endpoint at this path.
    UnknownUrl => "unknown_url",
    /// The request to the WebSocket endpoint is not a WebSocket upgrade.
    NotAWebsocket => "not_a_websocket",
    /// WebSocket: not JSON, not an object, or a field of the wrong shape.
    MalformedFrame => "malformed_frame",
    /// WebSocket: `v` is not a version this server speaks.
    UnsupportedVersion => "unsupported_version",
    /// WebSocket: `type` names no message this server knows.
    UnknownMessageType => "unknown_message_type",
    /// WebSocket: binary frames carry nothing in this protocol.
    UnsupportedFrame => "unsupported_frame",
    /// WebSocket: no valid `auth` message came in time.
    AuthTimeout => "auth_timeout",
    /// WebSocket: an `auth` message on a session that is already authenticated.
    AlreadyAuthenticated => "already_authenticated",
    /// WebSocket: a `topics` list names a topic this server does not know.
    UnknownTopic => "unknown_topic",
    /// WebSocket: the resume position is beyond the end of the event log; live events follow.
    ResumePositionAhead => "resume_position_ahead",
}

impl ErrorCode {
    /// The code a stored string names, if it names one (codes written before a rename do not).
    pub fn parse(code: &str) -> Option<ErrorCode> {
        code.parse().ok()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code `{0}`")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            s.into_deserializer();
        ErrorCode::deserialize(de).map_err(|_| UnknownErrorCode(s.to_owned()))
    }
}

impl PartialEq<ErrorCode> for &str {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// `as_str` is what serde writes, snake_case, unique, and parses back to the same code.
    #[test]
    fn every_code_is_its_wire_form_snake_case_and_unique() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::from(s)),
                "{code:?}"
            );
            assert!(
                !s.is_empty()
                    && !s.starts_with('_')
                    && !s.ends_with('_')
                    && !s.contains("__")
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{s} is not snake_case"
            );
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(ErrorCode::parse(s), Some(code));
            assert_eq!(code.to_string(), s);
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }
}
