//! An item's bytes: the original (with ranges and conditional requests), its preview pictures
//! and its video keyframes.

use actix_web::body::SizedStream;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tessera_events::content::ContentAccess;
use tessera_events::ErrorCode;
use utoipa::IntoParams;
use uuid::Uuid;

use super::viewer;
use crate::auth::AuthUser;
use crate::blob::{BlobKey, BlobRead};
use crate::content::{filename, ContentFailure, ContentService};
use crate::error::{ApiError, ApiResult, ErrorBody};

/// A single `bytes=` range of a `Range` header, resolved against `size`. Anything else (several
/// ranges, other units, bad syntax) is ignored and the whole file is sent, as RFC 9110 allows.
pub fn parse_range(value: &str, size: u64) -> Result<Option<(u64, Option<u64>)>, u64> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // The last `b` bytes.
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(size);
        }
        return Ok(Some((size.saturating_sub(n), None)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        None
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => Some(e),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(size);
    }
    Ok(Some((start, end)))
}

fn etag_matches(req: &HttpRequest, name: header::HeaderName, etag: &str) -> Option<bool> {
    let v = req.headers().get(name)?.to_str().ok()?;
    Some(
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag),
    )
}

/// `304 Not Modified` when the client's `If-None-Match` names `etag`.
fn not_modified(req: &HttpRequest, etag: &str) -> Option<HttpResponse> {
    (etag_matches(req, header::IF_NONE_MATCH, etag) == Some(true)).then(|| {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.to_owned()))
            .finish()
    })
}

/// A stored picture (a preview or a keyframe), cached privately for `max_age` seconds.
fn picture(
    req: &HttpRequest,
    etag: String,
    mime: &str,
    max_age: u32,
    read: BlobRead,
) -> HttpResponse {
    if let Some(r) = not_modified(req, &etag) {
        return r;
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime.to_owned()))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, format!("private, max-age={max_age}")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(header::ContentEncoding::Identity)
        .body(SizedStream::new(read.total_size, read.stream))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FileParams {
    /// `true` asks the browser to show the file (images, audio, video) instead of saving it.
    pub inline: Option<bool>,
}

/// Download the original
///
/// Supports `Range` (one range; seeking in audio and video), `If-None-Match` and `If-Range`.
/// The ETag is the SHA-256 of the bytes.
#[utoipa::path(
    get, path = "/api/content/{id}/file", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), FileParams),
    responses(
        (status = 200, description = "The whole file"),
        (status = 206, description = "The requested range"),
        (status = 304, description = "Not modified"),
        (status = 404, body = ErrorBody),
        (status = 416, body = ErrorBody, description = "`range_not_satisfiable`"),
    )
)]
pub async fn download(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
    params: web::Query<FileParams>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let item = service
        .get(viewer(&user), id.into(), ContentAccess::Download)
        .await?;
    let etag = format!("\"{}\"", item.sha256);
    if let Some(r) = not_modified(&req, &etag) {
        return Ok(r);
    }
    let range_allowed = etag_matches(&req, header::IF_RANGE, &etag) != Some(false);
    let range = match req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if range_allowed => match parse_range(v, item.size) {
            Ok(r) => r,
            Err(size) => {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    ErrorCode::RangeNotSatisfiable,
                    format!("the file has {size} bytes"),
                ));
            }
        },
        _ => None,
    };
    // The item was just authorised (and an admin's read recorded): read the bytes directly.
    let key = BlobKey::content(&item.sha256).map_err(ContentFailure::from)?;
    let read = service
        .blobs()
        .get(&key, range)
        .await
        .map_err(ContentFailure::from)?;
    let inline = params.inline.unwrap_or(false)
        && matches!(item.modality.as_str(), "image" | "audio" | "video");
    let name = item
        .filename
        .clone()
        .unwrap_or_else(|| format!("{}.{}", item.title, item.extension));
    let name = filename::sanitize(&name).unwrap_or_else(|| format!("download.{}", item.extension));
    let disposition = ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![
            DispositionParam::Filename(filename::ascii_fallback(&name)),
            DispositionParam::FilenameExt(header::ExtendedValue {
                charset: header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: name.into_bytes(),
            }),
        ],
    };
    let (status, len) = match read.range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, e - s + 1),
        None => (StatusCode::OK, read.total_size),
    };
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, item.mime.clone()))
        .insert_header(disposition)
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ))
        // Already-compressed media, and ranges must count raw bytes: no compression.
        .insert_header(header::ContentEncoding::Identity);
    if let Some((s, e)) = read.range {
        res.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {s}-{e}/{}", read.total_size),
        ));
    }
    if req.method() == Method::HEAD {
        res.insert_header((header::CONTENT_LENGTH, len.to_string()));
        return Ok(res.finish());
    }
    Ok(res.body(SizedStream::new(len, read.stream)))
}

/// Get a preview picture
#[utoipa::path(
    get, path = "/api/content/{id}/previews/{name}", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), ("name" = String, Path, description = "`thumb-256`, `thumb-1024` or `poster`")),
    responses((status = 200, description = "A JPEG"), (status = 404, body = ErrorBody))
)]
pub async fn preview(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    path: web::Path<(Uuid, String)>,
) -> ApiResult<HttpResponse> {
    let (id, name) = path.into_inner();
    let (item, mime, read) = service
        .open_preview(viewer(&user), id.into(), &name)
        .await?;
    let etag = format!("\"{}-{name}\"", item.sha256);
    Ok(picture(&req, etag, &mime, 86400, read))
}

#[utoipa::path(
    get, path = "/api/content/{id}/keyframes/{index}", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), ("index" = usize, Path, description = "the keyframe's index in the analysis")),
    responses((status = 200, description = "A JPEG"), (status = 404, body = ErrorBody))
)]
pub async fn keyframe(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    path: web::Path<(Uuid, usize)>,
) -> ApiResult<HttpResponse> {
    let (id, index) = path.into_inner();
    let (item, read) = service
        .open_keyframe(viewer(&user), id.into(), index)
        .await?;
    let etag = format!("\"{}-keyframe-{index}-{}\"", item.sha256, item.version);
    Ok(picture(&req, etag, "image/jpeg", 3600, read))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, Some(9)))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, None))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, None))));
        assert_eq!(parse_range("bytes=100-", 100), Err(100));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
        assert_eq!(parse_range("bytes=9-1", 100), Ok(None));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::parse_range;

    proptest! {
        /// Any header: a range inside the file, the whole file, or 416; never a panic.
        #[test]
        fn any_range_header_resolves_inside_the_file(
            value in "(bytes=)?[0-9 ,-]{0,24}|\\PC{0,40}",
            size in 0u64..1_000_000,
        ) {
            match parse_range(&value, size) {
                Ok(Some((start, end))) => {
                    prop_assert!(start < size || size == 0, "{value:?} {size}");
                    if let Some(end) = end {
                        prop_assert!(end >= start, "{value:?}");
                    }
                }
                Ok(None) => {}
                Err(total) => prop_assert_eq!(total, size),
            }
        }

        /// A well-formed range inside the file is taken as written.
        #[test]
        fn well_formed_ranges_are_taken_as_written(size in 1u64..1_000_000, a in any::<u64>(), len in 0u64..1000) {
            let start = a % size;
            let end = start + len;
            prop_assert_eq!(
                parse_range(&format!("bytes={start}-{end}"), size),
                Ok(Some((start, Some(end))))
            );
        }
    }
}
