//! Request bodies read whole, within one budget for the whole process.
//!
//! A JSON body must be in memory before it can be parsed. Each endpoint bounds its own body,
//! but 32 clients sending 4 MB bodies at once would still take 128 MB. So every body read here
//! first takes its room from one process-wide budget ([`BUDGET_BYTES`]), all at once (the
//! declared `Content-Length`, or the endpoint's limit when none is declared), and gives it back
//! when the request has been parsed: a burst of large bodies waits its turn instead of growing
//! the process. Taking the room in one step means two bodies can never each hold part of it
//! and wait for the rest.

use std::sync::{Arc, OnceLock};

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of bodies held at once, in all (at least the largest endpoint's limit).
pub const BUDGET_BYTES: usize = 40 << 20;
/// The budget is counted in KiB (semaphore permits are `u32`).
const UNIT: usize = 1024;

fn budget() -> Arc<Semaphore> {
    static BUDGET: OnceLock<Arc<Semaphore>> = OnceLock::new();
    BUDGET
        .get_or_init(|| Arc::new(Semaphore::new(BUDGET_BYTES / UNIT)))
        .clone()
}

/// A body read whole, holding its share of the budget until dropped.
pub struct Body {
    pub bytes: web::BytesMut,
    _room: OwnedSemaphorePermit,
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than the {limit} bytes this endpoint accepts")]
    TooLarge { limit: usize },
    #[error("the body could not be read: {0}")]
    Incomplete(String),
}

/// Reads the body of `req` whole, at most `limit` bytes (refused at the first byte past it, or
/// at once when `Content-Length` says more).
pub async fn read_whole(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Body, BodyError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let room = declared.unwrap_or(limit).min(BUDGET_BYTES);
    let units = u32::try_from(room.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
    let permit = budget()
        .acquire_many_owned(units)
        .await
        .map_err(|e| BodyError::Incomplete(e.to_string()))?;
    let mut bytes = web::BytesMut::with_capacity(room.min(1 << 20));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError::Incomplete(e.to_string()))?;
        if bytes.len() + chunk.len() > limit || bytes.len() + chunk.len() > room {
            return Err(BodyError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        _room: permit,
    })
}
