//! The HTTP face of Being Social: actix-web handlers, the token extractor, pagination, multipart
//! uploads and the one place where errors become status codes and bodies.
//!
//! # Wiring it up
//!
//! ```ignore
//! let public_url = PublicUrl::new(configured, behind_proxy, listener.local_addr()?);
//! let uploads = UploadMemory::new(UploadMemory::DEFAULT_BYTES, max_body, wait);
//! let state = being_social_http::AppState { services, limits: HttpLimits::default(), public_url, uploads, media_url: None };
//! let state = web::Data::new(state);
//! let metrics = Arc::new(Metrics::default().with_source(/* a Collector: pool and batcher figures */));
//! let limiter = web::Data::new(ratelimit::RateLimiter::new(rate_limits));
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(state.clone())
//!         .app_data(web::Data::from(metrics.clone()))
//!         .app_data(limiter.clone())
//!         .wrap(actix_web::middleware::from_fn(being_social_http::body_deadline::enforce))
//!         .wrap(actix_web::middleware::from_fn(being_social_http::ratelimit::enforce))
//!         .wrap(TracingLogger::<RequestIdRootSpan>::new())
//!         .wrap(AssignRequestId)
//!         .wrap(actix_web::middleware::from_fn(being_social_http::metrics::record))
//!         .wrap(being_social_http::default_headers())
//!         .configure(being_social_http::metrics::configure)
//!         .configure(being_social_http::configure)
//! })
//! ```
//!
//! The six middlewares are optional, but in this order (the last wrapped runs first): the
//! default headers reach every answer, metrics
//! see every answer, the request ID exists before the logger's root span is made, and refused
//! requests ([`ratelimit`]) are logged. `/metrics` is served only where [`metrics::configure`] is
//! called.
//!
//! The application state must be registered as `web::Data<AppState>`. Nothing else needs to be
//! wrapped: every path is registered both with and without its trailing slash (do not add
//! `NormalizePath`, it is not needed), the extractor error handlers and a JSON `404` default
//! service are part of [`configure`]. Body limits and page sizes are read from
//! [`AppState::limits`] on each request.

pub mod auth;
mod body;
pub mod body_deadline;
pub mod dto;
pub mod error;
pub mod metrics;
pub mod multipart;
pub mod openapi;
pub mod pagination;
pub mod public_url;
pub mod ratelimit;
pub mod request_id;
pub mod routes;
pub mod web_app;

use actix_web::web;
use being_social_domain::pagination::PageLimits;
use being_social_domain::services::Services;

pub use error::ApiError;
pub use public_url::PublicUrl;

/// Everything the handlers share; register it as `web::Data<AppState>`.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub limits: HttpLimits,
    /// The base of every absolute URL in answers.
    pub public_url: PublicUrl,
    /// The memory upload bodies may hold at once.
    pub uploads: multipart::UploadMemory,
    /// Where clients fetch pictures when not from this server's `/media/` (a bucket's or a
    /// CDN's base URL, to which `/` and the key are added).
    pub media_url: Option<public_url::BaseUrl>,
}

/// Request body limits and page sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The largest uploaded file (post image, avatar). The whole multipart body may exceed this by
    /// [`multipart::FORM_OVERHEAD_BYTES`] for the text fields and the multipart framing.
    pub max_upload_bytes: usize,
    /// The largest JSON (or url-encoded form) body.
    pub max_json_bytes: usize,
    /// The page size of list endpoints when `?limit=` is absent, and the largest one allowed.
    pub pages: PageLimits,
    /// The longest a request body may take to arrive in full ([`body_deadline`]).
    pub body_timeout: std::time::Duration,
}

impl HttpLimits {
    pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
    pub const DEFAULT_MAX_JSON_BYTES: usize = 64 * 1024;
    /// Time for the largest upload (10 MiB) at about 1 Mbit/s, a slow phone connection.
    pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: Self::DEFAULT_MAX_UPLOAD_BYTES,
            max_json_bytes: Self::DEFAULT_MAX_JSON_BYTES,
            pages: PageLimits::default(),
            body_timeout: Self::DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// Headers every answer carries unless its handler set its own: `nosniff` (a browser never
/// guesses a type other than the declared one, so an uploaded file cannot become a script) and
/// `Cache-Control: no-store` (answers carry tokens and the caller's own data; no shared cache
/// may keep them). Media answers set their own long-lived `Cache-Control`.
pub fn default_headers() -> actix_web::middleware::DefaultHeaders {
    use actix_web::http::header;
    actix_web::middleware::DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// Registers every route, the extractor error handlers, the web app's files ([`web_app`]) and the
/// default service: the JSON `404`, or the web app's page for a browser outside the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(error::json_config())
        .app_data(error::path_config())
        .app_data(error::query_config());
    routes::configure(cfg);
    web_app::configure(cfg);
    cfg.default_service(web::to(web_app::fallback));
}
