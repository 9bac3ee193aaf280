//! Logs (human-readable on a terminal, JSON lines otherwise) and request ids.

use std::io::IsTerminal;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// The header carrying the request id in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The request id, also kept in the request's extensions (the root span is built before the
/// task-local scope is entered).
#[derive(Clone)]
struct RequestId(String);

/// Installs the global subscriber, writing to stderr in `format` (see [`LogFormat`]).
/// `RUST_LOG` overrides the configured level. Safe to call more than once.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if human_readable(format, std::io::stderr().is_terminal()) {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    };
}

/// Whether lines are written for a person: asked for, or `auto` and the log goes to a terminal.
/// The terminal checked is stderr, where the lines go: `tessera serve 2>log` writes JSON even
/// when stdout is a terminal.
fn human_readable(format: LogFormat, to_terminal: bool) -> bool {
    match format {
        LogFormat::Auto => to_terminal,
        LogFormat::Json => false,
        LogFormat::Pretty => true,
    }
}

/// The id of the request being served on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Takes the caller's request id (if well-formed) or makes one, makes it visible to handlers and
/// error responses, and echoes it in the response.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = REQUEST_ID.scope(id.clone(), next.call(req)).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    Ok(res)
}

/// Root span of each request, carrying the request id.
pub struct TesseraRootSpan;

impl RootSpanBuilder for TesseraRootSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        tracing_actix_web::root_span!(request, request_id = %request_id)
    }

    fn on_request_end<B: MessageBody>(
        span: tracing::Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_human_readable_only_on_a_terminal() {
        assert!(human_readable(LogFormat::Auto, true));
        assert!(!human_readable(LogFormat::Auto, false));
        assert!(human_readable(LogFormat::Pretty, false));
        assert!(!human_readable(LogFormat::Json, true));
    }
}
