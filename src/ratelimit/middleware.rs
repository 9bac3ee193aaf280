//! The rate-limit middleware on `/api/*`: every request counts against its client address, a
//! signed-in user's requests against the user too, and uploads against a stricter uploads bucket.
//! A request over any limit gets `429 rate_limited` with `Retry-After`; one that passes carries
//! `X-RateLimit-Remaining` (the least of its buckets').

use std::net::IpAddr;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, ResponseError};
use uuid::Uuid;

use super::{retry_after_secs, Decision, RateLimiter};
use crate::auth::jwt::JwtKeys;
use crate::auth::ACCESS_COOKIE;
use crate::config::{AuthSettings, RateLimitSettings};
use crate::error::ApiError;

/// The header telling a client how many more requests would pass right now.
pub const REMAINING_HEADER: &str = "x-ratelimit-remaining";

/// Paths under `/api` that are never limited: probes and the API description.
const EXEMPT: &[&str] = &["/api/health", "/api/ready", "/api/openapi.json"];

/// What the middleware needs, registered as `web::Data<RateLimitPolicy>`.
pub struct RateLimitPolicy {
    limiter: RateLimiter,
    settings: RateLimitSettings,
    /// Only to tell whose request it is (a signature and expiry check, no database).
    keys: JwtKeys,
}

impl RateLimitPolicy {
    pub fn new(limiter: RateLimiter, settings: &RateLimitSettings, auth: &AuthSettings) -> Self {
        Self {
            limiter,
            settings: settings.clone(),
            keys: JwtKeys::new(auth),
        }
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The limits in force.
    pub fn settings(&self) -> &RateLimitSettings {
        &self.settings
    }

    /// The buckets a request counts against, each with its limit.
    fn buckets(&self, req: &HttpRequest) -> Vec<(String, u32)> {
        let s = &self.settings;
        let address = crate::client_addr::client_ip(req).map(address_key);
        let user = self.user_of(req);
        let mut buckets = Vec::with_capacity(3);
        if let Some(a) = &address {
            buckets.push((format!("addr:{a}"), s.per_address));
        }
        if let Some(u) = user {
            buckets.push((format!("user:{u}"), s.per_user));
        }
        if is_upload(req.method(), req.path()) {
            let who = match (user, &address) {
                (Some(u), _) => format!("user:{u}"),
                (None, Some(a)) => format!("addr:{a}"),
                (None, None) => "unknown".to_owned(),
            };
            buckets.push((format!("uploads:{who}"), s.uploads_per_user));
        }
        buckets
    }

    /// The user of a valid access token (header or cookie), if any. API keys are not looked
    /// up here (that needs the database): their requests count per address.
    fn user_of(&self, req: &HttpRequest) -> Option<Uuid> {
        let token = match req.headers().get(AUTHORIZATION) {
            Some(value) => {
                let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())?
            }
            None => req.cookie(ACCESS_COOKIE)?.value().to_owned(),
        };
        // A JWT has two dots; anything else (an API key, junk) is not worth a signature check.
        if token.bytes().filter(|b| *b == b'.').count() != 2 {
            return None;
        }
        self.keys.verify(&token).ok().map(|c| c.sub)
    }
}

/// Whether `path` is limited at all: `/api` and the OpenAI-compatible `/v1`.
fn is_limited(path: &str) -> bool {
    let under = |root: &str| {
        path.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    (under("/api") || under("/v1")) && !EXEMPT.contains(&path)
}

/// The OpenAI-compatible API.
fn is_openai(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Uploads: `POST /api/content`, notes, and anything under `/api/uploads`.
fn is_upload(method: &Method, path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    (method == Method::POST && (path == "/api/content" || path == "/api/content/notes"))
        || path == "/api/uploads"
        || path.starts_with("/api/uploads/")
}

/// The address a bucket is kept for: IPv4 as is, IPv6 by its /64 (one subscriber usually holds a
/// whole /64, so counting single addresses would let one client rotate through billions).
pub(crate) fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Counts the request against its buckets; answers 429 when any of them is exhausted.
pub async fn limit_requests<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let policy = req.app_data::<web::Data<RateLimitPolicy>>().cloned();
    let Some(policy) = policy.filter(|p| p.settings.enabled && is_limited(req.path())) else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    let window = Duration::from_secs(policy.settings.window_secs.max(1));
    let mut remaining = u32::MAX;
    for (bucket, limit) in policy.buckets(req.request()) {
        match policy.limiter.check(&bucket, limit, window).await {
            Decision::Allowed { remaining: r } => remaining = remaining.min(r),
            Decision::Limited { retry_after } => {
                let secs = retry_after_secs(retry_after);
                tracing::debug!(bucket = %bucket, retry_after = secs, "rate limited");
                let error =
                    ApiError::too_many(format!("too many requests; retry in {secs} s"), secs);
                // OpenAI's clients read their own error shape.
                let mut res = if is_openai(req.path()) {
                    crate::routes::openai::OpenAiError::from(error).error_response()
                } else {
                    error.error_response()
                };
                res.headers_mut().insert(
                    HeaderName::from_static(REMAINING_HEADER),
                    HeaderValue::from_static("0"),
                );
                return Ok(req.into_response(res).map_into_right_body());
            }
        }
    }
    let mut res = next.call(req).await?;
    if remaining != u32::MAX {
        res.headers_mut().insert(
            HeaderName::from_static(REMAINING_HEADER),
            HeaderValue::from(remaining),
        );
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn probes_and_the_api_description_are_not_limited() {
        assert!(is_limited("/api/me"));
        assert!(is_limited("/api/auth/login"));
        assert!(!is_limited("/api/openapi.json"));
        assert!(!is_limited("/api/health"));
        assert!(!is_limited("/health"));
        assert!(!is_limited("/index.html"));
        assert!(!is_limited("/apiary"));
        assert!(is_limited("/v1/chat/completions"));
        assert!(is_limited("/v1"));
        assert!(!is_limited("/v1beta"));
    }

    #[test]
    fn uploads_are_content_posts_and_the_uploads_tree() {
        assert!(is_upload(&Method::POST, "/api/content"));
        assert!(is_upload(&Method::POST, "/api/content/"));
        assert!(!is_upload(&Method::GET, "/api/content"));
        assert!(!is_upload(&Method::POST, "/api/content/abc/tags"));
        assert!(is_upload(&Method::PUT, "/api/uploads/abc/parts/1"));
        assert!(is_upload(&Method::POST, "/api/uploads"));
        assert!(is_upload(&Method::POST, "/api/content/notes"));
        assert!(!is_upload(&Method::GET, "/api/content/notes"));
        assert!(!is_upload(&Method::POST, "/api/uploadsx"));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(Ipv6Addr::UNSPECIFIED);
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(Ipv6Addr::UNSPECIFIED);
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert_eq!(address_key(a.into()), address_key(b.into()));
        assert_ne!(address_key(a.into()), address_key(c.into()));
        assert_eq!(address_key(a.into()), "2001:db8:1:2::/64");
        let v4 = Ipv4Addr::new(10, 0, 0, 7);
        assert_eq!(address_key(v4.into()), "10.0.0.7");
        assert_eq!(address_key(v4.to_ipv6_mapped().into()), "10.0.0.7");
    }
}
