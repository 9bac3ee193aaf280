//! Extractor configuration that turns malformed requests into stable JSON errors.

use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::StatusCode;
use actix_web::web;

use crate::error::ApiError;
use tessera_events::ErrorCode;

/// JSON bodies up to `limit` bytes; malformed JSON or unknown fields give 400 `invalid_json`,
/// too large 413 `payload_too_large`, a non-JSON content type 415 `unsupported_media_type`.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_error(err).into())
}

/// A JSON body of at most `limit` bytes read within the process's body budget
/// ([`crate::routes::body`]), with the same codes as [`json_config`]'s: for endpoints whose
/// bodies may be large.
pub async fn read_json_body<T: serde::de::DeserializeOwned>(
    req: &actix_web::HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    if !is_json {
        return Err(json_error(JsonPayloadError::ContentType));
    }
    let body = crate::routes::body::read_whole(req, payload, limit)
        .await
        .map_err(|e| match e {
            crate::routes::body::BodyError::TooLarge { limit } => too_large(Some(limit)),
            crate::routes::body::BodyError::Incomplete(m) => {
                ApiError::bad_request(ErrorCode::IncompleteBody, m)
            }
        })?;
    serde_json::from_slice(&body.bytes).map_err(|e| json_error(JsonPayloadError::Deserialize(e)))
}

/// The `ApiError` for a JSON body that could not be read.
pub fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => too_large(Some(limit)),
        JsonPayloadError::Payload(PayloadError::Overflow) => too_large(None),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(e) => deserialize_error(&e),
        other => ApiError::bad_request(
            ErrorCode::InvalidJson,
            format!("the body could not be read: {other}"),
        ),
    }
}

fn too_large(limit: Option<usize>) -> ApiError {
    let message = match limit {
        Some(l) => format!("the body is larger than the {l} bytes this endpoint accepts"),
        None => "the body is larger than this endpoint accepts".to_owned(),
    };
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        message,
    )
}

/// serde's messages can quote the offending value (a password, say); only the ones that name a
/// field and nothing else are passed on.
fn deserialize_error(e: &serde_json::Error) -> ApiError {
    let msg = e.to_string();
    let names_a_field = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|p| msg.starts_with(p));
    if names_a_field {
        let field = msg.split('`').nth(1).map(str::to_owned);
        let shown = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        let err = ApiError::bad_request(ErrorCode::InvalidJson, shown);
        return match field {
            Some(f) => err.with_field(f),
            None => err,
        };
    }
    ApiError::bad_request(
        ErrorCode::InvalidJson,
        format!(
            "the body is not valid JSON for this request (line {}, column {})",
            e.line(),
            e.column()
        ),
    )
}

/// Path parameters that do not parse (a malformed id) name nothing that exists: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, _req| ApiError::not_found("resource").into())
}

/// Malformed query strings give 400 `invalid_query`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let msg = err.to_string();
        ApiError::bad_request(ErrorCode::InvalidQuery, msg).into()
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        password: String,
    }

    fn de(s: &str) -> ApiError {
        match serde_json::from_str::<Body>(s) {
            Ok(b) => panic!("{b:?} parsed"),
            Err(e) => json_error(JsonPayloadError::Deserialize(e)),
        }
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let e = de(r#"{"password":"x","admin":true}"#);
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        assert_eq!(e.field.as_deref(), Some("admin"));
        assert!(!e.message.contains("line"));
        let e = de("{}");
        assert_eq!(e.field.as_deref(), Some("password"));
    }

    #[test]
    fn values_are_never_echoed() {
        let e = de(r#"{"password": 12345678901}"#);
        assert_eq!(e.code, "invalid_json");
        assert!(!e.message.contains("12345678901"), "{}", e.message);
        let e = de(r#"{"password": "hunter2""#);
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }

    #[test]
    fn size_and_content_type_errors_have_their_codes() {
        let e = json_error(JsonPayloadError::Overflow { limit: 10 });
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
        let e = json_error(JsonPayloadError::OverflowKnownLength {
            length: 20,
            limit: 10,
        });
        assert_eq!(e.code, "payload_too_large");
        let e = json_error(JsonPayloadError::ContentType);
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        );
    }
}
