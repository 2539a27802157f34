//! The only place where errors become a status code and a `{"detail", "code"}` body.
//!
//! Causes of internal and storage failures are logged here and never sent to the client.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpResponse, ResponseError, web};
use being_social_domain::{DomainError, FieldErrors};
use serde::Serialize;
use utoipa::ToSchema;

use crate::HttpLimits;

/// Every error a handler or extractor can answer with.
#[derive(Debug)]
pub enum ApiError {
    /// An error of the domain services.
    Domain(DomainError),
    /// No credentials, or an `Authorization` header that is not a well-formed token; the detail
    /// says which.
    NotAuthenticated(&'static str),
    /// A body or query that cannot be parsed (malformed JSON, wrong JSON types, bad multipart).
    Parse(String),
    /// A request body whose `Content-Type` the endpoint does not read.
    UnsupportedMediaType(String),
    /// A known path asked with a method it does not serve.
    MethodNotAllowed(Method),
    /// No route matches the path, or a path parameter has the wrong shape.
    NoRoute,
    /// The request body did not arrive in full within its deadline (see `crate::body_deadline`).
    RequestTimeout,
    /// Over a rate limit (see `crate::ratelimit`); the next request is allowed after `retry_after`.
    RateLimited { retry_after: std::time::Duration },
}

impl ApiError {
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::Domain(DomainError::PayloadTooLarge(detail.into()))
    }

    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Domain(DomainError::validation(field, message))
    }

    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Domain(DomainError::internal(cause))
    }

    fn parts(&self) -> Parts<'_> {
        use DomainError as D;
        let (status, code, detail, errors): (_, &str, Cow<'_, str>, _) = match self {
            Self::Domain(err) => match err {
                D::Validation(errors) => (
                    StatusCode::BAD_REQUEST,
                    "validation_error",
                    "Some fields are invalid.".into(),
                    Some(errors),
                ),
                D::BadRequest { code, detail } => {
                    (StatusCode::BAD_REQUEST, code, detail.as_str().into(), None)
                }
                D::InvalidCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "invalid_credentials",
                    "Invalid email or password.".into(),
                    None,
                ),
                D::Unauthenticated => (
                    StatusCode::UNAUTHORIZED,
                    "not_authenticated",
                    "Invalid token.".into(),
                    None,
                ),
                D::TokenExpired => (
                    StatusCode::UNAUTHORIZED,
                    "token_expired",
                    "Token expired. Log in again.".into(),
                    None,
                ),
                D::Forbidden(detail) => (
                    StatusCode::FORBIDDEN,
                    "permission_denied",
                    (*detail).into(),
                    None,
                ),
                D::NotFound(what) => (
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("{} not found.", capitalized(&what.to_string())).into(),
                    None,
                ),
                D::Conflict { code, detail } => {
                    (StatusCode::CONFLICT, code, detail.as_str().into(), None)
                }
                D::PayloadTooLarge(detail) => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    detail.as_str().into(),
                    None,
                ),
                D::UnsupportedMediaType => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "The file is not a JPEG, PNG, WebP or GIF image.".into(),
                    None,
                ),
                D::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "The service is temporarily unavailable. Please try again.".into(),
                    None,
                ),
                D::Overloaded(detail) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    (*detail).into(),
                    None,
                ),
                D::Internal(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "An internal error occurred.".into(),
                    None,
                ),
            },
            Self::NotAuthenticated(detail) => (
                StatusCode::UNAUTHORIZED,
                "not_authenticated",
                (*detail).into(),
                None,
            ),
            Self::Parse(detail) => (
                StatusCode::BAD_REQUEST,
                "parse_error",
                detail.as_str().into(),
                None,
            ),
            Self::UnsupportedMediaType(detail) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                detail.as_str().into(),
                None,
            ),
            Self::MethodNotAllowed(method) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("Method \"{method}\" not allowed.").into(),
                None,
            ),
            Self::NoRoute => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found.".into(),
                None,
            ),
            Self::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body did not arrive in time.".into(),
                None,
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests. Please try again later.".into(),
                None,
            ),
        };
        Parts {
            status,
            code,
            detail,
            errors,
        }
    }
}

struct Parts<'a> {
    status: StatusCode,
    code: &'a str,
    detail: Cow<'a, str>,
    errors: Option<&'a FieldErrors>,
}

/// Every error answer's body; the OpenAPI document names it `Error`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    /// A sentence for a person.
    #[schema(value_type = String)]
    detail: &'a str,
    /// A machine-readable code, e.g. `validation_error`, `not_found`.
    #[schema(value_type = String)]
    code: &'a str,
    /// Validation errors only: the messages for each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>)]
    errors: Option<BTreeMap<&'static str, &'a [String]>>,
}

fn capitalized(what: &str) -> String {
    let mut chars = what.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The domain's own message, causes included: this is what logs see, never clients.
            Self::Domain(err) => fmt::Display::fmt(err, f),
            _ => f.write_str(&self.parts().detail),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        Self::Domain(err)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().status
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Domain(DomainError::Internal(cause)) => {
                tracing::error!(cause = %cause, "internal error");
            }
            Self::Domain(DomainError::Unavailable(cause)) => {
                tracing::error!(cause = %cause, "storage unavailable");
            }
            Self::Domain(DomainError::Overloaded(_)) => {
                tracing::warn!("no room to process a picture in time; answered 503");
            }
            _ => {}
        }
        let parts = self.parts();
        let body = ErrorBody {
            detail: &parts.detail,
            code: parts.code,
            errors: parts.errors.map(|errors| errors.iter().collect()),
        };
        let mut response = HttpResponse::build(parts.status);
        if let Self::RateLimited { retry_after } = self {
            response.insert_header(crate::ratelimit::retry_after_header(*retry_after));
        }
        match parts.status {
            StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, "Token"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.json(body)
    }
}

/// A body that could not be read: over its limit, or broken off.
pub(crate) fn payload_error(err: PayloadError) -> ApiError {
    match err {
        PayloadError::Overflow => ApiError::payload_too_large("The request body is too large."),
        err if crate::body_deadline::is_timeout(&err) => ApiError::RequestTimeout,
        _ => ApiError::Parse("The request body could not be read.".into()),
    }
}

pub(crate) fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => {
            ApiError::payload_too_large(format!("The request body is larger than {limit} bytes."))
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "The request body must be JSON (Content-Type: application/json).".into(),
        ),
        JsonPayloadError::Deserialize(err) => ApiError::Parse(format!("Malformed JSON: {err}.")),
        JsonPayloadError::Payload(err) => payload_error(err),
        other => ApiError::internal(other),
    }
}

/// For handlers that use `web::Json`; ours read bodies through `crate::body`, which applies
/// [`HttpLimits::max_json_bytes`] from the state.
pub(crate) fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(HttpLimits::DEFAULT_MAX_JSON_BYTES)
        .error_handler(|err, _req| json_error(err).into())
}

/// A path parameter of the wrong shape (`/posts/edit/abc/`) names nothing: `404`.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, _req| ApiError::NoRoute.into())
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req| ApiError::Parse(format!("Invalid query string: {err}.")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;
    use being_social_domain::Resource;
    use serde_json::{Value, json};

    async fn render(err: ApiError) -> (StatusCode, header::HeaderMap, Value) {
        let response = err.error_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body())
            .await
            .unwrap_or_else(|_| panic!("body"));
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("json: {e}"));
        (status, headers, body)
    }

    #[actix_web::test]
    async fn validation_lists_fields() {
        let mut errors = FieldErrors::default();
        errors.add("email", "Enter a valid email address.");
        errors.add("password", "Too short.");
        let (status, _, body) = render(DomainError::Validation(errors).into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "validation_error");
        assert_eq!(
            body["errors"],
            json!({"email": ["Enter a valid email address."], "password": ["Too short."]})
        );
        assert!(body["detail"].is_string());
    }

    #[actix_web::test]
    async fn unauthenticated_has_the_challenge_header() {
        for err in [
            ApiError::from(DomainError::Unauthenticated),
            ApiError::from(DomainError::TokenExpired),
            ApiError::NotAuthenticated("Authentication credentials were not provided."),
            ApiError::from(DomainError::InvalidCredentials),
        ] {
            let (status, headers, body) = render(err).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(
                headers
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok()),
                Some("Token")
            );
            assert!(body.get("errors").is_none());
        }
    }

    #[actix_web::test]
    async fn internal_causes_stay_out_of_the_body() {
        let (status, _, body) = render(ApiError::internal("SELECT * FROM users failed")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "internal_error");
        assert!(!body.to_string().contains("SELECT"));
        let (status, headers, body) =
            render(DomainError::Unavailable("/var/lib/db locked".into()).into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(headers.contains_key(header::RETRY_AFTER));
        assert!(!body.to_string().contains("/var/lib"));
    }

    #[actix_web::test]
    async fn domain_codes_and_details() {
        let cases = [
            (
                ApiError::from(DomainError::NotFound(Resource::Post)),
                StatusCode::NOT_FOUND,
                "not_found",
                "Post not found.",
            ),
            (
                DomainError::BadRequest {
                    code: "cannot_follow_self",
                    detail: "You cannot follow yourself.".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "cannot_follow_self",
                "You cannot follow yourself.",
            ),
            (
                DomainError::Conflict {
                    code: "email_taken",
                    detail: "Taken.".into(),
                }
                .into(),
                StatusCode::CONFLICT,
                "email_taken",
                "Taken.",
            ),
            (
                DomainError::Overloaded("Busy.").into(),
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "Busy.",
            ),
            (
                DomainError::TokenExpired.into(),
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "Token expired. Log in again.",
            ),
            (
                DomainError::Forbidden("Nope.").into(),
                StatusCode::FORBIDDEN,
                "permission_denied",
                "Nope.",
            ),
            (
                ApiError::payload_too_large("Too big."),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Too big.",
            ),
            (
                DomainError::UnsupportedMediaType.into(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The file is not a JPEG, PNG, WebP or GIF image.",
            ),
            (
                ApiError::MethodNotAllowed(Method::PUT),
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method \"PUT\" not allowed.",
            ),
        ];
        for (err, status, code, detail) in cases {
            let (got_status, _, body) = render(err).await;
            assert_eq!(got_status, status);
            assert_eq!(body["code"], code);
            assert_eq!(body["detail"], detail);
        }
    }

    #[actix_web::test]
    async fn rate_limited_says_when_to_come_back() {
        let err = ApiError::RateLimited {
            retry_after: std::time::Duration::from_millis(1500),
        };
        let (status, headers, body) = render(err).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["code"], "rate_limited");
        assert!(body["detail"].is_string());
        // Rounded up: a client that waits exactly that long is let in.
        assert_eq!(
            headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
    }

    #[actix_web::test]
    async fn json_extractor_errors() {
        let err = json_error(JsonPayloadError::Overflow { limit: 10 });
        assert_eq!(err.status_code(), StatusCode::PAYLOAD_TOO_LARGE);
        let err = json_error(JsonPayloadError::ContentType);
        assert_eq!(err.status_code(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let bad = serde_json::from_str::<Value>("{").err();
        let Some(bad) = bad else {
            panic!("expected a JSON error")
        };
        let (status, _, body) = render(json_error(JsonPayloadError::Deserialize(bad))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "parse_error");
    }
}
