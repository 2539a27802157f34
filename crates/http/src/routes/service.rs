//! Operational endpoints.

use actix_web::{HttpResponse, web};
use serde_json::json;

use being_social_domain::DomainError;

use super::resource;
use crate::{ApiError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(healthz)))
        .service(resource("/readyz").route(web::get().to(readyz)));
}

/// The process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers too; `503` with the contract's error body while it does not.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.services.health.ready().await {
        Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
    } else {
        Err(DomainError::Unavailable("the database does not answer".into()).into())
    }
}
