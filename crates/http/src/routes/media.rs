//! Stored pictures. Keys are issued by the server for content that never changes, so the key is
//! the entity tag and the answer may be cached for good.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::AppState;
use crate::error::ApiError;

const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::json_405(web::resource("/media/{key:.+}"))
            .route(web::get().to(media))
            .route(web::head().to(media)),
    );
}

/// A strong entity tag for the key, if the key can be written as one.
fn etag(key: &str) -> Option<String> {
    let valid = key.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b));
    valid.then(|| format!("\"{key}\""))
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, as RFC 9110 asks).
fn none_match(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// A stored picture
#[utoipa::path(get, path = "/media/{key}", tag = "media",
    params(("key" = String, Path, description = "A key from an `image_url`, `thumbnail_url` or `avatar_url`")),
    responses(
        (status = 200, description = "The image bytes",
            content(("image/jpeg"), ("image/png"), ("image/webp"), ("image/gif")),
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "No such picture")))]
#[tracing::instrument(name = "media", skip_all)]
async fn media(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.trim_end_matches('/');
    let Some(stored) = state.services.media.get(key).await? else {
        return Err(ApiError::NoRoute);
    };
    let tag = etag(key);
    if let Some(tag) = &tag
        && let Some(value) = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
        && none_match(value, tag)
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag.as_str()))
            .insert_header((header::CACHE_CONTROL, CACHE_FOREVER))
            .finish());
    }
    let mut response = HttpResponse::Ok();
    response
        .content_type(stored.content_type)
        .insert_header((header::CACHE_CONTROL, CACHE_FOREVER))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if let Some(tag) = tag {
        response.insert_header((header::ETAG, tag));
    }
    Ok(response.body(stored.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert_eq!(etag("ab/cd.jpg").as_deref(), Some("\"ab/cd.jpg\""));
        assert_eq!(etag("a\"b"), None);
        assert!(none_match("\"x\"", "\"x\""));
        assert!(none_match("W/\"y\", \"x\"", "\"x\""));
        assert!(none_match("*", "\"x\""));
        assert!(!none_match("\"y\"", "\"x\""));
    }
}
