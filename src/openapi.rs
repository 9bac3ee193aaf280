//! The OpenAPI document at `/api/openapi.json`, merged from every route module's own.

use actix_web::{get, web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;

use crate::routes;

/// The whole API description.
pub fn document() -> OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Tessera")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Self-hostable multimodal AI workspace. Errors are JSON \
                     `{\"error\":{\"code\",\"message\",\"request_id\"}}` with stable codes.",
                ))
                .build(),
        )
        .build();
    for part in routes::openapi_parts() {
        doc.merge(part);
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT or API key (tsk_…)")
                .build(),
        ),
    );
    components.add_security_scheme(
        "cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("access_token"))),
    );
    doc
}

#[get("/api/openapi.json")]
async fn openapi_json(doc: web::Data<String>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.get_ref().clone())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = document().to_json().unwrap_or_else(|_| "{}".into());
    cfg.app_data(web::Data::new(json)).service(openapi_json);
}
