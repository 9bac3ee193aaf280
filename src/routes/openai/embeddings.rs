//! `POST /v1/embeddings`: the node's text-embedding model ([`crate::inference::embeddings`]),
//! as OpenAI's clients send and read it.

use actix_web::{web, HttpResponse};
use base64::Engine as _;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_events::ErrorCode;
use tessera_models::text::embed::DIM;
use utoipa::{OpenApi, ToSchema};

use super::error::OpenAiErrorBody;
use super::{read_json, resolve, OpenAiError, Task, V1User};
use crate::inference::{Embedded, Inference};
use crate::routes::capped::TextOrList;
use crate::state::AppState;

/// Largest request body.
const MAX_BODY: usize = 4 << 20;
/// Most inputs in one request (as OpenAI).
pub const MAX_INPUTS: usize = 2048;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingRequest {
    /// The embedding model's catalog id (`GET /v1/models`).
    pub model: String,
    /// A text, or a list of up to 2048 texts; each at most 256 tokens (the model's window).
    /// Token arrays are not supported.
    #[schema(value_type = Object)]
    pub input: Input,
    /// `float` (default) or `base64` (little-endian f32).
    pub encoding_format: Option<String>,
    /// Only the model's own size (384).
    pub dimensions: Option<u32>,
    /// Accepted.
    pub user: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingObject {
    /// Always `embedding`.
    pub object: &'static str,
    pub index: usize,
    /// The L2-normalised vector: numbers, or a base64 string of little-endian f32.
    #[schema(value_type = Object)]
    pub embedding: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<EmbeddingObject>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

/// `input` as sent: a text or a list (anything else is a shape error of the body).
pub type Input = TextOrList<InputItem, MAX_INPUTS>;

/// One item of an `input` list: a text, a token id or token list (not supported), or
/// anything else. Whatever it is, only a text is kept.
#[derive(Debug)]
pub enum InputItem {
    Text(String),
    Tokens,
    Other,
}

/// Reads any JSON value, keeping only a string: the visitor of [`InputItem`].
struct Shape;

/// What [`Shape`] saw.
enum Seen {
    Text(String),
    Number,
    List,
    Other,
}

impl<'de> Visitor<'de> for Shape {
    type Value = Seen;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Seen, E> {
        Ok(Seen::Text(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Seen, E> {
        Ok(Seen::Text(s))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Seen, E> {
        Ok(Seen::Number)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Seen, E> {
        Ok(Seen::Number)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Seen, E> {
        Ok(Seen::Number)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Seen, E> {
        Ok(Seen::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Seen, E> {
        Ok(Seen::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Seen::List)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Seen::Other)
    }
}

impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(Shape)? {
            Seen::Text(s) => InputItem::Text(s),
            Seen::Number | Seen::List => InputItem::Tokens,
            Seen::Other => InputItem::Other,
        })
    }
}

/// The texts of `input`.
fn texts(input: Input) -> Result<Vec<String>, OpenAiError> {
    let not_text = || {
        OpenAiError::invalid(
            ErrorCode::InvalidType,
            "`input` must be a string or a list of strings",
        )
        .with_param("input")
    };
    let texts = match input {
        Input::Text(s) => vec![s],
        Input::List(items) => {
            if items.overflowed() {
                return Err(OpenAiError::invalid(
                    ErrorCode::TooManyInputs,
                    format!("at most {MAX_INPUTS} inputs per request"),
                )
                .with_param("input"));
            }
            let items = items.into_vec("input").unwrap_or_default();
            if items.is_empty() {
                return Err(OpenAiError::invalid(
                    ErrorCode::EmptyInput,
                    "`input` is an empty list",
                )
                .with_param("input"));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    InputItem::Text(s) => out.push(s),
                    InputItem::Tokens => {
                        return Err(OpenAiError::invalid(
                            ErrorCode::UnsupportedValue,
                            "token arrays are not supported; send the text",
                        )
                        .with_param("input"))
                    }
                    InputItem::Other => return Err(not_text()),
                }
            }
            out
        }
    };
    if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err(
            OpenAiError::invalid(ErrorCode::EmptyInput, format!("input {i} is empty"))
                .with_param("input"),
        );
    }
    Ok(texts)
}

/// Little-endian f32 bytes, base64: what OpenAI's clients decode.
fn base64_of(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Create embeddings
///
/// One vector per input, in input order. Each input must fit the model's window of 256 tokens
/// (400 `context_length_exceeded` otherwise); nothing is cut silently.
#[utoipa::path(
    post, path = "/v1/embeddings", tag = "openai",
    security(("bearer" = [])),
    request_body = EmbeddingRequest,
    responses(
        (status = 200, body = EmbeddingList),
        (status = 400, body = OpenAiErrorBody, description = "`context_length_exceeded`, `empty_input`, `too_many_inputs`, `invalid_type`, `unsupported_value`, `invalid_value`, `invalid_json`, `model_not_supported`"),
        (status = 401, body = OpenAiErrorBody),
        (status = 403, body = OpenAiErrorBody, description = "`quota_exceeded`"),
        (status = 404, body = OpenAiErrorBody, description = "`model_not_found`"),
        (status = 413, body = OpenAiErrorBody, description = "`payload_too_large`"),
        (status = 429, body = OpenAiErrorBody),
        (status = 503, body = OpenAiErrorBody, description = "`model_busy`, `model_unavailable`"),
    )
)]
pub async fn embeddings(
    user: V1User,
    state: web::Data<AppState>,
    inference: web::Data<Inference>,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, OpenAiError> {
    let r: EmbeddingRequest = read_json(&req, body, MAX_BODY).await?;
    let model = resolve(&state, &r.model, Task::Embeddings)?;
    let base64 = match r.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(OpenAiError::param(
                "encoding_format",
                "encoding_format must be `float` or `base64`",
            ))
        }
    };
    if r.dimensions.is_some_and(|d| d as usize != DIM) {
        return Err(OpenAiError::param(
            "dimensions",
            format!("this model's embeddings have {DIM} dimensions"),
        ));
    }
    let texts = texts(r.input)?;
    let Embedded { vectors, tokens } = inference
        .embed(user.0.user_id, model.clone(), texts)
        .await?;
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| EmbeddingObject {
            object: "embedding",
            index,
            embedding: if base64 {
                Value::String(base64_of(&v))
            } else {
                Value::from(v)
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(EmbeddingList {
        object: "list",
        data,
        model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/embeddings").route(web::post().to(embeddings)));
}

#[derive(OpenApi)]
#[openapi(
    paths(embeddings),
    components(schemas(
        EmbeddingRequest,
        EmbeddingList,
        EmbeddingObject,
        EmbeddingUsage,
        OpenAiErrorBody
    ))
)]
struct EmbeddingsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    EmbeddingsApi::openapi()
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;

    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        let s = base64_of(&[1.0, -2.5]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .unwrap_or_default();
        assert_eq!(bytes.len(), 8);
        assert_eq!(
            f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            1.0
        );
        assert_eq!(
            f32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            -2.5
        );
    }

    #[test]
    fn inputs_are_texts_and_never_empty() {
        // What does not parse as an `Input` at all is the body's shape error.
        let texts = |v: Value| match serde_json::from_value(v) {
            Ok(input) => texts(input),
            Err(e) => Err(super::super::shape_error(&e)),
        };
        assert_eq!(texts(Value::from("a")).map(|t| t.len()).ok(), Some(1));
        assert_eq!(
            texts(serde_json::json!(["a", "b"])).map(|t| t.len()).ok(),
            Some(2)
        );
        for bad in [
            serde_json::json!([]),
            serde_json::json!(""),
            serde_json::json!(["a", " "]),
            serde_json::json!([1, 2]),
            serde_json::json!(5),
            serde_json::json!([null]),
            serde_json::json!([[1, 2]]),
            serde_json::json!({"a": [1]}),
            serde_json::json!(vec!["a"; MAX_INPUTS + 1]),
        ] {
            let e = texts(bad.clone()).err().map(|e| e.status);
            assert_eq!(e, Some(StatusCode::BAD_REQUEST), "{bad}");
        }
    }
}
