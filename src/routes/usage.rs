//! `/api/usage`: what a user stored, uploaded and had processed, per day and modality, against
//! their limits; `/api/admin/usage`: everyone's.

use actix_web::{web, HttpResponse};
use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tessera_events::content::{usage_stream, ContentAccess, Ledger};
use tessera_projections::read_models::usage as rm;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::content::viewer;
use crate::auth::{AdminUser, AuthUser};
use crate::content::ContentService;
use crate::error::{ApiError, ApiResult, ErrorBody};
use tessera_events::{ErrorCode, UserId};

/// The longest range of days one request returns.
const MAX_DAYS: i64 = 366;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// First day (UTC), default 30 days ago.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), default today.
    pub to: Option<NaiveDate>,
    /// Admins only: another user's usage (recorded).
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayUsage {
    pub day: NaiveDate,
    pub modality: String,
    pub uploads: i64,
    pub bytes_uploaded: i64,
    pub bytes_released: i64,
    pub processing_seconds: f64,
    /// Language-model tokens read (prompts, context).
    pub tokens_in: i64,
    /// Language-model tokens written (answers).
    pub tokens_out: i64,
    /// Audio transcribed or spoken, in seconds.
    pub audio_seconds: f64,
    /// Interactive model requests (chat answers, speech, transcriptions, embeddings).
    pub generations: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Limits {
    pub storage_bytes: u64,
    pub uploads_per_day: u64,
    pub processing_seconds_per_day: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Today {
    pub day: NaiveDate,
    pub uploads: u64,
    pub processing_seconds: f64,
    pub tokens: u64,
    pub audio_seconds: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub user_id: Uuid,
    /// Bytes stored now (deleted items count until purged).
    pub stored_bytes: u64,
    /// Bytes held for resumable uploads in progress: they count against the storage quota
    /// until the upload completes, is cancelled or expires.
    pub reserved_bytes: u64,
    pub items: u64,
    pub limits: Limits,
    pub today: Today,
    pub days: Vec<DayUsage>,
}

fn day_rows(rows: Vec<rm::DailyRow>) -> Vec<DayUsage> {
    rows.into_iter()
        .map(|r| DayUsage {
            day: r.day,
            modality: r.modality,
            uploads: r.uploads,
            bytes_uploaded: r.bytes_uploaded,
            bytes_released: r.bytes_released,
            processing_seconds: r.processing_ms as f64 / 1000.0,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            audio_seconds: r.audio_ms as f64 / 1000.0,
            generations: r.generations,
        })
        .collect()
}

fn range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> ApiResult<(NaiveDate, NaiveDate)> {
    let today = Utc::now().date_naive();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - Duration::days(29));
    if from > to || (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("from must not be after to, and at most {MAX_DAYS} days apart"),
        ));
    }
    Ok((from, to))
}

/// Usage and limits
///
/// Current totals and today's counters come from the ledger that enforces the limits, so they
/// are exact; the per-day history comes from the usage read model.
#[utoipa::path(
    get, path = "/api/usage", tag = "usage",
    security(("bearer" = []), ("cookie" = [])),
    params(UsageParams),
    responses(
        (status = 200, body = UsageView),
        (status = 400, body = ErrorBody, description = "`invalid_query`"),
        (status = 404, body = ErrorBody, description = "`user_id` given by a non-admin"),
    )
)]
pub async fn usage(
    user: AuthUser,
    service: web::Data<ContentService>,
    params: web::Query<UsageParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let target = p.user_id.map(UserId::from).unwrap_or(user.user_id);
    service
        .authorize_read(viewer(&user), target, None, ContentAccess::Usage)
        .await?;
    let (from, to) = range(p.from, p.to)?;
    let limits = service.limits(target).await?;
    let ledger = Ledger::load(service.store(), &usage_stream(target)).await?;
    let now = Utc::now();
    let today = now.date_naive();
    let reserved_bytes = ledger.state.totals.held_bytes(now);
    let t = ledger.state.totals.on(today);
    let days = rm::daily(service.pool(), Some(target), from, to).await?;
    Ok(HttpResponse::Ok().json(UsageView {
        user_id: target.into(),
        stored_bytes: t.stored_bytes,
        reserved_bytes,
        items: t.items,
        limits: Limits {
            storage_bytes: limits.storage_bytes,
            uploads_per_day: limits.uploads_per_day,
            processing_seconds_per_day: limits.processing_seconds_per_day,
        },
        today: Today {
            day: today,
            uploads: t.uploads_on_day,
            processing_seconds: t.processing_ms_on_day as f64 / 1000.0,
            tokens: t.tokens_on_day,
            audio_seconds: t.audio_ms_on_day as f64 / 1000.0,
        },
        days: day_rows(days),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminUsageParams {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// How many users (largest storage first), 1 to 1000.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserTotals {
    pub user_id: Uuid,
    pub stored_bytes: i64,
    pub items: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminDayUsage {
    pub user_id: Uuid,
    #[serde(flatten)]
    pub usage: DayUsage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUsageView {
    pub users: Vec<UserTotals>,
    pub days: Vec<AdminDayUsage>,
}

/// Everyone's usage (admins)
#[utoipa::path(
    get, path = "/api/admin/usage", tag = "usage",
    security(("bearer" = []), ("cookie" = [])),
    params(AdminUsageParams),
    responses((status = 200, body = AdminUsageView), (status = 403, body = ErrorBody))
)]
pub async fn admin_usage(
    _admin: AdminUser,
    service: web::Data<ContentService>,
    params: web::Query<AdminUsageParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let (from, to) = range(p.from, p.to)?;
    let totals = rm::all_totals(service.pool(), p.limit.unwrap_or(100).clamp(1, 1000)).await?;
    let days = rm::daily(service.pool(), None, from, to).await?;
    Ok(HttpResponse::Ok().json(AdminUsageView {
        users: totals
            .into_iter()
            .map(|t| UserTotals {
                user_id: t.user_id,
                stored_bytes: t.stored_bytes,
                items: t.items,
            })
            .collect(),
        days: days
            .into_iter()
            .map(|r| AdminDayUsage {
                user_id: r.user_id,
                usage: day_rows(vec![r]).remove(0),
            })
            .collect(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/usage").route(web::get().to(usage)))
        .service(web::resource("/api/admin/usage").route(web::get().to(admin_usage)));
}

#[derive(OpenApi)]
#[openapi(
    paths(usage, admin_usage),
    components(schemas(
        UsageView,
        Limits,
        Today,
        DayUsage,
        AdminUsageView,
        UserTotals,
        ErrorBody
    ))
)]
struct UsageApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    UsageApi::openapi()
}
