//! Stored pictures. Keys are issued by the server for content that never changes, so the key is
//! the entity tag and the answer may be cached for good.
//!
//! A post's JPEG or PNG rendition may have a smaller WebP stored beside it (the same name with
//! `.webp`, [`sibling_key`]): a client that lists `image/webp` in `Accept` gets that instead,
//! under the WebP's own entity tag. Answers for JPEG and PNG keys say `Vary: Accept`, so that a
//! shared cache keeps the two apart.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use being_social_domain::model::{ImageFormat, StoredMedia, sibling_key};

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

/// Whether the `Accept` header lists `image/webp` with a quality above zero (`*/*` and
/// `image/*` do not count: clients that say only that may not read WebP).
fn accepts_webp(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("image/webp") && !refused
        })
}

/// A stored picture
///
/// For the key of a JPEG or PNG post picture, a client whose `Accept` lists `image/webp` gets
/// the picture's WebP rendition instead when one is stored (it is where it is smaller), with its
/// own `ETag`; these answers carry `Vary: Accept`.
#[utoipa::path(get, path = "/media/{key}", tag = "media",
    params(("key" = String, Path, description = "A key from an `image_url`, `medium_url`, `thumbnail_url` or `avatar_url`")),
    responses(
        (status = 200, description = "The image bytes",
            content(("image/jpeg"), ("image/png"), ("image/webp"), ("image/gif")),
            headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "No such picture")))]
#[tracing::instrument(name = "media", skip_all)]
async fn media(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.trim_end_matches('/');
    let media = &state.services.media;
    // The WebP beside a JPEG or PNG, for a client that takes it.
    let webp = sibling_key(key, ImageFormat::WebP).filter(|_| {
        key.rsplit_once('.')
            .is_some_and(|(_, ext)| ext == "jpg" || ext == "png")
    });
    let varies = webp.is_some();
    let mut chosen: Option<(String, StoredMedia)> = None;
    if let Some(webp) = webp.filter(|_| accepts_webp(&req)) {
        chosen = media.get(&webp).await?.map(|stored| (webp, stored));
    }
    let (key, stored) = match chosen {
        Some(found) => found,
        None => match media.get(key).await? {
            Some(stored) => (key.to_owned(), stored),
            None => return Err(ApiError::NoRoute),
        },
    };
    let tag = etag(&key);
    if let Some(tag) = &tag
        && let Some(value) = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
        && none_match(value, tag)
    {
        let mut response = HttpResponse::NotModified();
        response
            .insert_header((header::ETAG, tag.as_str()))
            .insert_header((header::CACHE_CONTROL, CACHE_FOREVER));
        if varies {
            response.insert_header((header::VARY, "Accept"));
        }
        return Ok(response.finish());
    }
    let mut response = HttpResponse::Ok();
    response
        .content_type(stored.content_type)
        .insert_header((header::CACHE_CONTROL, CACHE_FOREVER))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if varies {
        response.insert_header((header::VARY, "Accept"));
    }
    if let Some(tag) = tag {
        response.insert_header((header::ETAG, tag));
    }
    Ok(response.body(stored.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webp_is_taken_only_when_named() {
        use actix_web::test::TestRequest;
        let accepts = |value: &str| {
            accepts_webp(
                &TestRequest::get()
                    .insert_header((header::ACCEPT, value))
                    .to_http_request(),
            )
        };
        assert!(accepts("image/avif,image/webp,*/*"));
        assert!(accepts("image/webp;q=0.8, image/jpeg"));
        assert!(accepts("IMAGE/WEBP"));
        assert!(!accepts("image/webp;q=0"));
        assert!(!accepts("*/*"));
        assert!(!accepts("image/*"));
        assert!(!accepts("image/jpeg"));
        assert!(!accepts_webp(&TestRequest::get().to_http_request()));
    }

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
