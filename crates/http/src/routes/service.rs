//! Operational endpoints and the API's own documentation.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use being_social_domain::DomainError;

use super::{json_405, resource};
use crate::dto::StatusBody;
use crate::ratelimit::RateLimiter;
use crate::{ApiError, AppState, openapi};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(healthz)))
        .service(resource("/readyz").route(web::get().to(readyz)))
        .service(resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(json_405(web::resource("/docs")).route(web::get().to(docs)))
        .service(json_405(web::resource("/docs/{file:.*}")).route(web::get().to(docs_file)));
}

/// The process answers
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "The process answers", body = StatusBody)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(StatusBody::OK)
}

/// The database answers too
///
/// And so do the media store, and the shared rate-limit store (Redis) when limited requests are
/// refused without it (`rate_limit_failure = closed`).
/// `503` with the contract's error body while one does not.
#[utoipa::path(get, path = "/readyz", tag = "service", responses(
    (status = 200, description = "The database and the stores answer", body = StatusBody),
    (status = 503, description = "The database or a store does not answer")))]
async fn readyz(
    state: web::Data<AppState>,
    limiter: Option<web::Data<RateLimiter>>,
) -> Result<HttpResponse, ApiError> {
    if !state.services.health.ready().await {
        return Err(DomainError::Unavailable("the database does not answer".into()).into());
    }
    if !state.services.media.ready().await {
        return Err(DomainError::Unavailable("the media store does not answer".into()).into());
    }
    if let Some(limiter) = limiter
        && limiter.store_gates_readiness()
        && !limiter.store_ready().await
    {
        return Err(DomainError::Unavailable("the rate-limit store does not answer".into()).into());
    }
    Ok(HttpResponse::Ok().json(StatusBody::OK))
}

/// This document (OpenAPI 3.1)
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
async fn openapi_json() -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(openapi::json()?))
}

/// The interactive documentation (Swagger UI)
///
/// Redirects to `/docs/`, so that the page's relative links resolve under `/docs/`.
#[utoipa::path(get, path = "/docs", tag = "service", responses(
    (status = 308, description = "Redirect to `/docs/`, the page itself",
        headers(("Location" = String, description = "/docs/")))))]
async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The Swagger UI page loads only its own embedded files and calls only this server: no script
/// from elsewhere, no framing by another site (clickjacking), no form or base URL pointing away.
/// Its stylesheet sets inline styles, and its images include `data:` URLs.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'; object-src 'none'";

/// The Swagger UI page and its files, embedded in the binary.
async fn docs_file(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some(file) = openapi::swagger_file(&file)? else {
        return Err(ApiError::NoRoute);
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(file.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_CSP));
    if file.gzpipped {
        response.insert_header(header::ContentEncoding::Gzip);
    }
    // The embedded files are served as they are, without a copy per request.
    let body = match file.bytes {
        std::borrow::Cow::Borrowed(bytes) => actix_web::web::Bytes::from_static(bytes),
        std::borrow::Cow::Owned(bytes) => actix_web::web::Bytes::from(bytes),
    };
    Ok(response.body(body))
}
