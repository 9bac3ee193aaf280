//! Errors of the OpenAI-compatible API in OpenAI's shape,
//! `{"error":{"message","type","param","code"}}`, with the HTTP statuses OpenAI's clients map
//! to their exception classes (400 `BadRequestError`, 401 `AuthenticationError`, 403
//! `PermissionDeniedError`, 404 `NotFoundError`, 429 `RateLimitError`, 5xx
//! `InternalServerError`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tessera_actors::jobs::StepError;
use tessera_actors::models::InferError;
use tessera_actors::HasErrorCode;
use tessera_models::media::MediaError;
use tessera_models::runtime::InputFault;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};
use crate::inference::InferenceError;
use crate::routes::multipart::FormRejection;

/// The body of every `/v1` error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorBody {
    pub error: OpenAiErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorDetail {
    /// Human-readable explanation.
    pub message: String,
    /// The error's class: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `insufficient_quota`, `rate_limit_error`, `server_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request parameter at fault, if one is.
    pub param: Option<String>,
    /// Stable, machine-readable code (`model_not_found`, `context_length_exceeded`,
    /// `invalid_api_key`, `quota_exceeded`, `model_busy`, ...).
    pub code: Option<ErrorCode>,
}

/// An error as an OpenAI client sees it.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct OpenAiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
    pub retry_after: Option<u64>,
}

impl OpenAiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        OpenAiError {
            status,
            code,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// 400 with a stable code.
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `invalid_value` naming the parameter at fault.
    pub fn param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid(ErrorCode::InvalidValue, message).with_param(param)
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// 404 `model_not_found`.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ModelNotFound,
            format!("the model `{model}` does not exist on this server (see GET /v1/models)"),
        )
        .with_param("model")
    }

    /// A failure of ours: logged with its cause, shown without details.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error in the OpenAI-compatible API");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "something went wrong on our side",
        )
    }

    /// The error class OpenAI's clients and docs use for this status and code.
    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            403 if self.code == ErrorCode::QuotaExceeded => "insufficient_quota",
            403 => "permission_error",
            429 => "rate_limit_error",
            500.. => "server_error",
            _ => "invalid_request_error",
        }
    }
}

impl ResponseError for OpenAiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            res.insert_header(("Retry-After", s.to_string()));
        }
        // Tells OpenAI's clients not to retry what cannot succeed on a retry.
        let retry = matches!(self.status.as_u16(), 429 | 503);
        res.insert_header(("x-should-retry", if retry { "true" } else { "false" }));
        res.json(OpenAiErrorBody {
            error: OpenAiErrorDetail {
                message: self.message.clone(),
                kind: self.kind(),
                param: self.param.clone(),
                code: Some(self.code),
            },
        })
    }
}

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        let code = match e.code {
            // OpenAI's name for a key (or token) that is not valid.
            ErrorCode::InvalidToken | ErrorCode::TokenExpired => ErrorCode::InvalidApiKey,
            ErrorCode::Unauthenticated => ErrorCode::MissingApiKey,
            ErrorCode::RateLimited => ErrorCode::RateLimitExceeded,
            other => other,
        };
        let status = if e.status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            e.status
        };
        OpenAiError {
            status,
            code,
            message: e.message,
            param: e.field,
            retry_after: e.retry_after,
        }
    }
}

impl From<crate::content::ContentFailure> for OpenAiError {
    fn from(e: crate::content::ContentFailure) -> Self {
        ApiError::from(e).into()
    }
}

/// What a model's refusal of its input means for an OpenAI client.
fn input_fault_code(fault: InputFault) -> ErrorCode {
    match fault {
        InputFault::ContextExceeded | InputFault::InputTooLarge => ErrorCode::ContextLengthExceeded,
        InputFault::InvalidMessages | InputFault::EmptyPrompt => ErrorCode::InvalidMessages,
        InputFault::InvalidOptions => ErrorCode::InvalidValue,
    }
}

/// A model instance's refusal or failure.
pub fn infer_error(e: InferError) -> OpenAiError {
    match &e {
        InferError::Busy { .. } => OpenAiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ModelBusy,
            e.to_string(),
        )
        .with_retry_after(1),
        InferError::Load { .. } | InferError::Stopped(_) => OpenAiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ModelUnavailable,
            e.to_string(),
        ),
        InferError::Crashed { .. } => OpenAiError::internal(&e),
        InferError::Rejected { fault, message } => {
            let code = input_fault_code(*fault);
            let err = OpenAiError::invalid(code, message.clone());
            if matches!(
                code,
                ErrorCode::ContextLengthExceeded | ErrorCode::InvalidMessages
            ) {
                err.with_param("messages")
            } else {
                err
            }
        }
        InferError::Runtime(_) => OpenAiError::internal(&e),
    }
}

/// A pipeline step's failure: the input's fault is a 400 with the step's code; a busy or
/// missing model is a 503; anything else is ours.
pub fn step_error(e: StepError) -> OpenAiError {
    if e.permanent {
        return OpenAiError::invalid(e.code, e.message);
    }
    match e.code {
        ErrorCode::ModelBusy => {
            OpenAiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code, e.message).with_retry_after(1)
        }
        ErrorCode::ModelUnavailable | ErrorCode::ModelStopped => {
            OpenAiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code, e.message)
        }
        _ => OpenAiError::internal(format!("{}: {}", e.code, e.message)),
    }
}

/// A file that could not be read as media: its fault is a 400 naming `file`.
pub fn media_error(e: MediaError) -> OpenAiError {
    if !e.is_client_error() {
        return OpenAiError::internal(e);
    }
    OpenAiError::invalid(e.error_code(), e.to_string()).with_param("file")
}

/// A `/v1` form refused before its own checks, in OpenAI's terms: the body is
/// `invalid_multipart`, a part too long or not UTF-8 is `invalid_value` naming it, an undeclared
/// part is `unknown_parameter`.
impl From<FormRejection> for OpenAiError {
    fn from(e: FormRejection) -> Self {
        match e {
            FormRejection::Form(e) => {
                OpenAiError::invalid(ErrorCode::InvalidMultipart, e.to_string())
            }
            FormRejection::TooLong { field, limit } => {
                OpenAiError::param(field, format!("`{field}` is longer than {limit} bytes"))
            }
            FormRejection::NotUtf8 { field } => {
                OpenAiError::param(field, format!("`{field}` is not UTF-8"))
            }
            FormRejection::Unknown { field, .. } => OpenAiError::invalid(
                ErrorCode::UnknownParameter,
                format!("unrecognised request parameter `{field}`"),
            )
            .with_param(field),
            FormRejection::Repeated { field, max, .. } => OpenAiError::invalid(
                ErrorCode::TooManyParts,
                format!("`{field}` may be sent at most {max} times"),
            )
            .with_param(field),
        }
    }
}

impl From<InferenceError> for OpenAiError {
    fn from(e: InferenceError) -> Self {
        let message = e.to_string();
        match e {
            InferenceError::Content(c) => c.into(),
            InferenceError::Infer(e) => infer_error(e),
            InferenceError::Unavailable(m) => OpenAiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ModelUnavailable,
                m,
            ),
            InferenceError::Step(s) => step_error(s),
            InferenceError::Media(m) => media_error(m),
            InferenceError::NotAudio { .. } => {
                OpenAiError::invalid(ErrorCode::UnsupportedFileType, message).with_param("file")
            }
            InferenceError::InputTooLong { .. } => {
                OpenAiError::invalid(ErrorCode::ContextLengthExceeded, message).with_param("input")
            }
            InferenceError::NoEncoder { .. } => {
                OpenAiError::invalid(ErrorCode::UnsupportedResponseFormat, message)
                    .with_param("response_format")
            }
            InferenceError::Speech(e) => OpenAiError::internal(e),
            InferenceError::Internal(m) => OpenAiError::internal(m),
        }
    }
}

impl OpenAiError {
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: &OpenAiError) -> serde_json::Value {
        let res = e.error_response();
        let bytes = actix_web::body::to_bytes(res.into_body());
        let bytes = futures_util::FutureExt::now_or_never(bytes)
            .and_then(Result::ok)
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    #[test]
    fn errors_have_openais_shape_and_classes() {
        let e = OpenAiError::model_not_found("gpt-x");
        let b = body(&e);
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert_eq!(b["error"]["code"], "model_not_found");
        assert_eq!(b["error"]["param"], "model");
        assert!(b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("gpt-x"));

        let quota: OpenAiError =
            ApiError::new(StatusCode::FORBIDDEN, ErrorCode::QuotaExceeded, "used up").into();
        assert_eq!(body(&quota)["error"]["type"], "insufficient_quota");
        let key: OpenAiError = ApiError::unauthorized(ErrorCode::InvalidToken, "bad").into();
        let b = body(&key);
        assert_eq!(
            (b["error"]["type"].as_str(), b["error"]["code"].as_str()),
            (Some("authentication_error"), Some("invalid_api_key"))
        );
        let unprocessable: OpenAiError = ApiError::validation("name", "x").into();
        assert_eq!(unprocessable.status, StatusCode::BAD_REQUEST);
        assert_eq!(unprocessable.param.as_deref(), Some("name"));
    }

    #[test]
    fn llama_input_errors_are_bad_requests_with_openais_codes() {
        use tessera_models::runtime::llama::LlamaError;
        let refused = tessera_models::runtime::RuntimeError::from(LlamaError::ContextExceeded {
            prompt_tokens: 9000,
            max_tokens: 16,
            n_ctx: 8192,
        });
        let e = infer_error(InferError::from(refused));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
        assert_eq!(e.param.as_deref(), Some("messages"));
        assert!(
            e.message.starts_with("the prompt (9000 tokens)"),
            "{}",
            e.message
        );
        let busy = infer_error(InferError::Busy {
            model: "m".into(),
            queued: 3,
        });
        assert_eq!(
            (busy.status, busy.code),
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ModelBusy)
        );
        let other = infer_error(InferError::Runtime(
            "inference failed in llama: boom".into(),
        ));
        assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn form_refusals_and_refused_work_keep_the_v1_codes() {
        let unknown: OpenAiError = FormRejection::Unknown {
            field: "fiel".into(),
            expected: "file, model".into(),
        }
        .into();
        assert_eq!(
            (unknown.code, unknown.param.as_deref()),
            (ErrorCode::UnknownParameter, Some("fiel"))
        );
        let long: OpenAiError = FormRejection::TooLong {
            field: "model",
            limit: 16,
        }
        .into();
        assert_eq!(
            (long.code, long.param.as_deref()),
            (ErrorCode::InvalidValue, Some("model"))
        );
        let cut: OpenAiError =
            FormRejection::Form(crate::routes::form::FormError::Incomplete("cut".into())).into();
        assert_eq!(cut.code, ErrorCode::InvalidMultipart);

        let too_long: OpenAiError = InferenceError::InputTooLong {
            index: 2,
            tokens: 300,
            max: 256,
        }
        .into();
        assert_eq!(
            (too_long.status, too_long.code, too_long.param.as_deref()),
            (
                StatusCode::BAD_REQUEST,
                ErrorCode::ContextLengthExceeded,
                Some("input")
            )
        );
        assert!(too_long.message.starts_with("input 2 is 300 tokens"));
        let image: OpenAiError = InferenceError::NotAudio {
            modality: tessera_models::media::Modality::Image,
            mime: "image/png".into(),
        }
        .into();
        assert_eq!(
            (image.code, image.param.as_deref()),
            (ErrorCode::UnsupportedFileType, Some("file"))
        );
        let gone: OpenAiError = InferenceError::Unavailable("stopped".into()).into();
        assert_eq!(
            (gone.status, gone.code),
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ModelUnavailable)
        );
    }
}
