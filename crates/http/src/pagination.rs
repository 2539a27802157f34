//! Cursor pagination over HTTP: `?limit=` and `?cursor=` in, `{results, next}` out.
//!
//! A cursor is opaque to clients: base64url (no padding) of `"<unix micros>:<id>"`, the sort key of
//! the last item of the page before.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use being_social_domain::FieldErrors;
use being_social_domain::pagination::{Cursor, Page, PageLimits, PageRequest};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::dto::Urls;
use crate::error::ApiError;

/// The page a list request asks for, read from its query string.
#[derive(Debug, Clone, Copy)]
pub struct PageParams(pub PageRequest);

impl FromRequest for PageParams {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let limits = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.limits.pages)
            .unwrap_or_default();
        ready(parse_query_within(&limits, req.query_string()).map(Self))
    }
}

/// `?limit=` and `?cursor=` in the OpenAPI document of every list.
impl IntoParams for PageParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(PageRequest::MAX_LIMIT))
            .default(Some(PageRequest::DEFAULT_LIMIT.into()));
        let cursor = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(64));
        vec![
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("Items per page."))
                .schema(Some(limit))
                .build(),
            ParameterBuilder::new()
                .name("cursor")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(
                    "Opaque; taken from the `next` URL of the page before.",
                ))
                .schema(Some(cursor))
                .build(),
        ]
    }
}

#[derive(Deserialize)]
struct RawPageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// Reads `limit` and `cursor` within the default page sizes; other parameters are ignored.
///
/// # Errors
/// A validation error on `limit` or `cursor`.
pub fn parse_query(query: &str) -> Result<PageRequest, ApiError> {
    parse_query_within(&PageLimits::default(), query)
}

/// Reads `limit` (`limits.default` when absent, at most `limits.max`) and `cursor`.
///
/// # Errors
/// A validation error on `limit` or `cursor`.
pub fn parse_query_within(limits: &PageLimits, query: &str) -> Result<PageRequest, ApiError> {
    let raw = web::Query::<RawPageQuery>::from_query(query)
        .map_err(|err| ApiError::Parse(format!("Invalid query string: {err}.")))?
        .into_inner();
    let mut errors = FieldErrors::default();
    let limit = match raw
        .limit
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(text) => match text.parse::<i64>() {
            // Out of u32 range is out of the allowed range too: 0 is refused below.
            Ok(n) => Some(u32::try_from(n).unwrap_or(0)),
            Err(_) => {
                errors.add("limit", "A valid integer is required.");
                None
            }
        },
    };
    if let Err(message) = PageRequest::within(limits, limit, None) {
        errors.add("limit", message);
    }
    let cursor = match raw
        .cursor
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(text) => {
            let cursor = decode_cursor(text);
            if cursor.is_none() {
                errors.add("cursor", "Invalid cursor.");
            }
            cursor
        }
    };
    errors.into_result()?;
    PageRequest::within(limits, limit, cursor)
        .map_err(|message| ApiError::validation("limit", message))
}

pub fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.at.timestamp_micros(), cursor.id))
}

pub fn decode_cursor(text: &str) -> Option<Cursor> {
    if text.len() > 64 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (micros, id) = text.split_once(':')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some(Cursor {
        at,
        id: id.parse().ok()?,
    })
}

/// The absolute URL of the next page: this request's URL with `cursor` replaced; `limit` and any
/// other parameter are kept as they were sent.
pub fn next_url(req: &HttpRequest, next: Option<Cursor>) -> Option<String> {
    let next = next?;
    let cursor = format!("cursor={}", encode_cursor(&next));
    let query: Vec<&str> = req
        .query_string()
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("cursor"))
        .chain(std::iter::once(cursor.as_str()))
        .collect();
    let path = format!("{}?{}", req.path(), query.join("&"));
    Some(Urls::from_request(req).absolute(&path))
}

/// A page as clients see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageBody<T> {
    pub results: Vec<T>,
    /// The absolute URL of the next page; `null` on the last one.
    pub next: Option<String>,
}

impl<T> PageBody<T> {
    /// Converts the items and links the next page with `next`.
    pub fn new<U>(
        page: Page<U>,
        next: impl FnOnce(Cursor) -> String,
        item: impl FnMut(U) -> T,
    ) -> Self {
        Self {
            next: page.next.map(next),
            results: page.items.into_iter().map(item).collect(),
        }
    }

    /// A page of a list endpoint: `next` continues this very request.
    pub fn for_request<U>(req: &HttpRequest, page: Page<U>, item: impl FnMut(U) -> T) -> Self {
        let next = next_url(req, page.next);
        Self {
            next,
            results: page.items.into_iter().map(item).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use chrono::Utc;

    fn cursor() -> Cursor {
        Cursor {
            at: DateTime::<Utc>::from_timestamp_micros(1_700_000_000_123_456)
                .unwrap_or_else(|| panic!("time")),
            id: 42,
        }
    }

    #[test]
    fn cursor_round_trip() {
        let c = cursor();
        let text = encode_cursor(&c);
        assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
        assert_eq!(decode_cursor(&text), Some(c));
    }

    #[test]
    fn bad_cursors_are_rejected() {
        for bad in [
            "",
            "!!!",
            "abc",
            &URL_SAFE_NO_PAD.encode("x:1"),
            &URL_SAFE_NO_PAD.encode("1"),
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
        let err = parse_query("cursor=nope").err();
        let Some(ApiError::Domain(being_social_domain::DomainError::Validation(errors))) = err
        else {
            panic!("expected a validation error")
        };
        assert_eq!(
            errors.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            ["cursor"]
        );
    }

    #[test]
    fn limits() {
        assert_eq!(parse_query("").map(|p| p.limit()).ok(), Some(30));
        assert_eq!(parse_query("limit=5&x=1").map(|p| p.limit()).ok(), Some(5));
        for bad in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=abc",
            "limit=99999999999999",
        ] {
            let err = parse_query(bad).err();
            let Some(ApiError::Domain(being_social_domain::DomainError::Validation(errors))) = err
            else {
                panic!("expected a validation error for {bad}")
            };
            assert_eq!(errors.iter().map(|(f, _)| f).collect::<Vec<_>>(), ["limit"]);
        }
        let wide = PageLimits {
            default: 5,
            max: 500,
        };
        assert_eq!(
            parse_query_within(&wide, "").map(|p| p.limit()).ok(),
            Some(5)
        );
        assert_eq!(
            parse_query_within(&wide, "limit=500")
                .map(|p| p.limit())
                .ok(),
            Some(500)
        );
        assert!(parse_query_within(&wide, "limit=501").is_err());
        let c = encode_cursor(&cursor());
        let page = parse_query(&format!("limit=2&cursor={c}")).ok();
        assert_eq!(page.and_then(|p| p.after), Some(cursor()));
    }

    #[test]
    fn next_keeps_limit_and_replaces_cursor() {
        let req = TestRequest::get()
            .uri("/posts/post-feed/?limit=2&cursor=old")
            .insert_header(("host", "example.com"))
            .to_http_request();
        let url = next_url(&req, Some(cursor()));
        let expected = format!(
            "http://example.com/posts/post-feed/?limit=2&cursor={}",
            encode_cursor(&cursor())
        );
        assert_eq!(url, Some(expected));
        assert_eq!(next_url(&req, None), None);
    }
}
