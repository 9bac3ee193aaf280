//! `GET /api/ws`: the live WebSocket; the protocol is `tessera_actors::session::protocol`.
//!
//! Wiring: the app must register `web::Data<Arc<dyn TokenVerifier>>` (the auth service's
//! verifier) and `web::Data<Addr<SessionRegistry>>` (`Tree::sessions` from
//! `tessera_actors::start_tree`); `web::Data<SessionSettings>` is optional (defaults otherwise).
//! Without the first two the route answers 500.
//!
//! Authentication, in order: an `Authorization: Bearer` header (an invalid one is refused with
//! 401 before the upgrade), the `access_token` cookie (only from a same-origin page, so another
//! site cannot open a socket with the user's cookie; an invalid or foreign cookie is ignored),
//! else the client's first `auth` message. Tokens are never read from the URL, where proxies and
//! browser history would keep them.

use std::sync::Arc;

use actix::Addr;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use tessera_actors::session::{SessionOptions, Topics};
use tessera_actors::{start_session, SessionRegistry, SessionSettings, SessionUser, TokenVerifier};
use utoipa::OpenApi;

use crate::auth::ACCESS_COOKIE;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use tessera_events::ErrorCode;

/// What the `Authorization` header says.
enum HeaderToken<'a> {
    Absent,
    Bearer(&'a str),
    Unusable,
}

fn header_token(req: &HttpRequest) -> HeaderToken<'_> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return HeaderToken::Absent;
    };
    let Ok(value) = value.to_str() else {
        return HeaderToken::Unusable;
    };
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            HeaderToken::Bearer(token.trim())
        }
        _ => HeaderToken::Unusable,
    }
}

/// A page may use the cookie only if it comes from this server's own origin; clients that are
/// not browsers send no `Origin`.
fn same_origin(req: &HttpRequest) -> bool {
    crate::site::same_origin(req).unwrap_or(true)
}

/// `resume_from` and `topics` from the query string: positions and topic names are no secret, so
/// a client that authenticates by header or cookie may name them in the URL. Anything else in the
/// query (a token, say) is ignored.
fn session_options(req: &HttpRequest) -> Result<SessionOptions, ApiError> {
    let mut options = SessionOptions::default();
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, e.to_string()))?;
    for (name, value) in query.into_inner() {
        match name.as_str() {
            "resume_from" => {
                options.resume_from = Some(value.parse().map_err(|_| {
                    ApiError::bad_request(
                        ErrorCode::InvalidQuery,
                        "`resume_from` must be a non-negative integer event position",
                    )
                })?)
            }
            "topics" if value == "*" => options.topics = Topics::EVERYTHING,
            "topics" => {
                options.topics = Topics::parse(value.split(',')).map_err(|unknown| {
                    ApiError::bad_request(
                        ErrorCode::UnknownTopic,
                        format!("unknown topic {unknown:?}"),
                    )
                })?
            }
            _ => {}
        }
    }
    Ok(options)
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized(
        ErrorCode::InvalidToken,
        "the access token is invalid or expired",
    )
}

/// Opens the live WebSocket of the signed-in user.
///
/// After the upgrade, frames are JSON with a protocol version `v` (now 1); `docs/websocket.md`
/// describes every message. Client → server: `auth` (`token`, optional `resume_from`, `topics`;
/// when the upgrade request carried no valid credentials), `resume` (`position`), `subscribe`
/// (`topics`: `content`, `jobs`, `conversations`, `usage`, `account`, or `"*"`), `ping`.
/// Server → client: `ready`, `event` (`position`, `event_id`, `stream`, `stream_version`,
/// `event_type`, `schema_version`, `payload`, `recorded_at`), `resumed`, `caught_up`,
/// `subscribed`, `pong`, and `error` (`code`: `malformed_frame`, `unsupported_version`,
/// `unknown_message_type`, `unsupported_frame`, `invalid_token`, `auth_timeout`,
/// `already_authenticated`, `unavailable`, `unknown_topic`, `resume_position_ahead`,
/// `rate_limited`). The server closes with a reason: `invalid_token`, `auth_timeout`,
/// `idle_timeout`, `slow_consumer`, `frame_too_large` (frames over 64 KiB), `protocol_error`,
/// `rate_limited`, `account_disabled`, `server_shutdown`, `unavailable`. The query may carry
/// `resume_from` (an event position) and `topics` (comma-separated); tokens are never accepted
/// in the URL.
#[utoipa::path(
    tag = "live",
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket session begins"),
        (status = 400, body = ErrorBody, description = "Not a WebSocket upgrade request (`not_a_websocket`), a bad `resume_from` (`invalid_query`) or an unknown topic (`unknown_topic`)"),
        (status = 401, body = ErrorBody, description = "The `Authorization` header carries an invalid token (`invalid_token`)"),
    ),
    params(
        ("resume_from" = Option<u64>, Query, description = "Position of the last event the client saw: missed events are sent first"),
        ("topics" = Option<String>, Query, description = "Comma-separated topics (`content`, `jobs`, `conversations`, `usage`, `account`); default: all events"),
    ),
    security((), ("bearer" = []), ("cookie" = []))
)]
#[get("/api/ws")]
pub async fn ws(
    req: HttpRequest,
    body: web::Payload,
    verifier: web::Data<Arc<dyn TokenVerifier>>,
    registry: web::Data<Addr<SessionRegistry>>,
) -> Result<HttpResponse, ApiError> {
    let options = session_options(&req)?;
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::bad_request(ErrorCode::NotAWebsocket, e.to_string()))?;
    let settings = req
        .app_data::<web::Data<SessionSettings>>()
        .map(|s| s.get_ref().clone())
        .unwrap_or_default();
    // A verifier that hangs must not hold the upgrade forever.
    let verify = |token: &str| tokio::time::timeout(settings.auth_timeout, verifier.verify(token));
    let user: Option<SessionUser> = match header_token(&req) {
        HeaderToken::Bearer(token) => Some(
            verify(token)
                .await
                .ok()
                .flatten()
                .ok_or_else(invalid_token)?,
        ),
        HeaderToken::Unusable => return Err(invalid_token()),
        HeaderToken::Absent => match req.cookie(ACCESS_COOKIE) {
            Some(cookie) if same_origin(&req) => {
                let user = verify(cookie.value()).await.ok().flatten();
                if user.is_none() {
                    // A stale cookie must not lock the client out: it can still send `auth`.
                    tracing::debug!("ignoring an invalid access_token cookie on /api/ws");
                }
                user
            }
            Some(_) => {
                tracing::info!(
                    origin = ?req.headers().get(header::ORIGIN),
                    "ignoring the access_token cookie of a cross-origin WebSocket request"
                );
                None
            }
            None => None,
        },
    };
    start_session(
        registry.get_ref().clone(),
        verifier.get_ref().clone(),
        user,
        options,
        session,
        stream,
        settings,
    );
    Ok(response)
}

/// Registers `GET /api/ws`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(ws);
}

#[derive(OpenApi)]
#[openapi(paths(ws), components(schemas(ErrorBody, ErrorDetail)))]
struct WsApi;

/// This module's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    WsApi::openapi()
}
