//! Stored pictures. Keys are issued by the server for content that never changes, so the key is
//! the entity tag and the answer may be cached for good.
//!
//! The bytes are streamed from the media store as they arrive (whichever node took the upload),
//! and a single `Range` of bytes is answered `206` (`416` when it covers none of them).
//!
//! A post's JPEG or PNG rendition may have a smaller WebP stored beside it (the same name with
//! `.webp`, [`sibling_key`]): a client that lists `image/webp` in `Accept` gets that instead,
//! under the WebP's own entity tag. Answers for JPEG and PNG keys say `Vary: Accept`, so that a
//! shared cache keeps the two apart.

use actix_web::body::SizedStream;
use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::model::{ImageFormat, sibling_key};
use being_social_domain::ports::{ByteRange, MediaBody};

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

/// The one range of bytes a `Range` header asks for (`bytes=0-99`, `bytes=100-`, `bytes=-100`);
/// `None` for no header, several ranges or anything unreadable, which are answered in full (as
/// RFC 9110 allows).
fn byte_range(req: &HttpRequest) -> Option<ByteRange> {
    let value = req.headers().get(header::RANGE)?.to_str().ok()?;
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => Some(ByteRange::Suffix(number(last)?)),
        (false, true) => Some(ByteRange::From(number(first)?)),
        (false, false) => Some(ByteRange::Inclusive(number(first)?, number(last)?)),
        (true, true) => None,
    }
}

/// The store's chunks as a stream of `Bytes`; a failure midway ends the answer early (the
/// client sees a short body, never a wrong one).
fn stream(body: Box<dyn MediaBody>) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::unfold(Some(body), |body| async move {
        let mut body = body?;
        match body.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Some(body))),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, "media read broke off");
                Some((Err(std::io::Error::other(err.to_string())), None))
            }
        }
    })
}

/// A stored picture
#[utoipa::path(get, path = "/media/{key}", tag = "media",
    params(("key" = String, Path, description = "A key from an `image_url`, `thumbnail_url` or `avatar_url`")),
    responses(
        (status = 200, description = "The image bytes",
            content(("image/jpeg"), ("image/png"), ("image/webp"), ("image/gif")),
            headers(("ETag" = String), ("Cache-Control" = String), ("Accept-Ranges" = String),
                ("Vary" = String))),
        (status = 206, description = "The bytes of the one range asked for (`Range: bytes=...`); a \
            range that covers none of them is answered 416 with `Content-Range: bytes */SIZE` and no body",
            headers(("Content-Range" = String))),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "No such picture"),
        (status = 503, description = "The media store does not answer")))]
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
    // A range that is not of this very picture (`If-Range` with another tag) is ignored.
    let range_of = |tag: &Option<String>| {
        let if_range_holds = req
            .headers()
            .get(header::IF_RANGE)
            .is_none_or(|value| tag.as_deref().is_some_and(|tag| value == tag));
        byte_range(&req).filter(|_| if_range_holds)
    };
    let mut chosen = None;
    if let Some(webp) = webp.filter(|_| accepts_webp(&req)) {
        let tag = etag(&webp);
        let range = range_of(&tag);
        chosen = media
            .open(&webp, range)
            .await?
            .map(|read| (tag, range, read));
    }
    let (tag, range, read) = match chosen {
        Some(found) => found,
        None => {
            let tag = etag(key);
            let range = range_of(&tag);
            match media.open(key, range).await? {
                Some(read) => (tag, range, read),
                None => return Err(ApiError::NoRoute),
            }
        }
    };
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
    let (status, content_range) = match (&range, &read.range) {
        (None, _) => (StatusCode::OK, None),
        (Some(_), Some(part)) => (
            StatusCode::PARTIAL_CONTENT,
            Some(format!(
                "bytes {}-{}/{}",
                part.start,
                part.end - 1,
                read.size
            )),
        ),
        (Some(_), None) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            Some(format!("bytes */{}", read.size)),
        ),
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, CACHE_FOREVER))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if varies {
        response.insert_header((header::VARY, "Accept"));
    }
    if let Some(tag) = tag {
        response.insert_header((header::ETAG, tag));
    }
    if let Some(content_range) = content_range {
        response.insert_header((header::CONTENT_RANGE, content_range));
    }
    let Some(part) = read.range else {
        return Ok(response.finish());
    };
    response.content_type(read.content_type);
    let length = part.end - part.start;
    Ok(response.body(SizedStream::new(length, stream(read.body))))
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

    #[test]
    fn ranges() {
        let range = |value: &str| {
            let req = actix_web::test::TestRequest::get()
                .insert_header((header::RANGE, value))
                .to_http_request();
            byte_range(&req)
        };
        assert_eq!(range("bytes=0-99"), Some(ByteRange::Inclusive(0, 99)));
        assert_eq!(range("bytes=100-"), Some(ByteRange::From(100)));
        assert_eq!(range("bytes=-5"), Some(ByteRange::Suffix(5)));
        for ignored in [
            "bytes=0-1,3-4",
            "bytes=-",
            "items=0-1",
            "bytes=a-b",
            "bytes=+1-2",
        ] {
            assert_eq!(range(ignored), None, "{ignored}");
        }
        let none = actix_web::test::TestRequest::get().to_http_request();
        assert_eq!(byte_range(&none), None);
    }
}
