//! Request IDs: every request gets one, every response carries it in `X-Request-Id`, and every
//! log line written while the request is served carries it as `request_id`.
//!
//! An incoming `X-Request-Id` is kept when it is a sane token (1 to [`MAX_LEN`] visible ASCII
//! characters), so that a proxy's or a client's ID follows the request through; anything else is
//! replaced by a new UUID v4, since a header that reaches the logs must not be able to forge lines
//! or flood them.
//!
//! Wiring, outermost last:
//!
//! ```ignore
//! App::new()
//!     .wrap(TracingLogger::<RequestIdRootSpan>::new())
//!     .wrap(AssignRequestId)
//! ```
//!
//! [`AssignRequestId`] must wrap the logger so that the ID exists when the logger's root span is
//! made.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use crate::metrics::UNMATCHED_ROUTE;

/// The request and response header.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming ID kept.
pub const MAX_LEN: usize = 128;

/// The ID of the request being served; in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The incoming ID if it is sane, a new one otherwise.
    pub fn for_request(req: &ServiceRequest) -> Self {
        req.headers()
            .get(&HEADER)
            .filter(|value| is_sane(value.as_bytes()))
            .map_or_else(Self::generate, |value| Self(value.clone()))
    }

    fn generate() -> Self {
        let mut buf = uuid::Uuid::encode_buffer();
        // A version-4 UUID from the thread's userspace generator: `Uuid::new_v4` asks the kernel
        // for every ID (a `getrandom` call per request).
        let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let text = uuid.hyphenated().encode_lower(&mut buf);
        Self(HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("invalid")))
    }

    pub fn as_str(&self) -> &str {
        // Only visible ASCII gets here, which `to_str` always accepts.
        self.0.to_str().unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 1 to [`MAX_LEN`] bytes, each visible ASCII (no space, no control character).
pub fn is_sane(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

/// The middleware that assigns the [`RequestId`] and puts it on the response.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssignRequestId;

impl<S, B> Transform<S, ServiceRequest> for AssignRequestId
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = AssignRequestIdService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AssignRequestIdService { service }))
    }
}

pub struct AssignRequestIdService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for AssignRequestIdService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = WithId<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let id = RequestId::for_request(&req);
        req.extensions_mut().insert(id.clone());
        WithId {
            inner: self.service.call(req),
            id: Some(id.0),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner future, then the ID put on its answer.
    pub struct WithId<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, B> Future for WithId<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome = std::task::ready!(this.inner.poll(cx));
        let Some(id) = this.id.take() else {
            return Poll::Ready(outcome);
        };
        Poll::Ready(match outcome {
            Ok(mut response) => {
                response.headers_mut().insert(HEADER, id);
                Ok(response)
            }
            // An error becomes a response only later, outside every middleware: wrap it so that
            // its response still carries the ID.
            Err(inner) => Err(Error::from(ErrorWithId { inner, id })),
        })
    }
}

#[derive(Debug)]
struct ErrorWithId {
    inner: Error,
    id: HeaderValue,
}

impl fmt::Display for ErrorWithId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl ResponseError for ErrorWithId {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.inner.error_response();
        response.headers_mut().insert(HEADER, self.id.clone());
        response
    }
}

/// The logger's root span, with the [`RequestId`] as `request_id`: every event inside the span,
/// hence every log line of the request, carries it.
pub struct RequestIdRootSpan;

impl RootSpanBuilder for RequestIdRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // Read before anything else borrows the extensions (`connection_info` caches itself there).
        let connection = request.connection_info().clone();
        let extensions = request.extensions();
        let request_id = extensions.get::<RequestId>().map_or("", RequestId::as_str);
        let route = request.match_pattern();
        let user_agent = request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
            .unwrap_or("");
        // The peer's address, not a header's: a client could write any Forwarded header.
        let client_ip = request.peer_addr().map(|addr| addr.ip().to_string());
        // tracing-actix-web's `root_span!` cannot be used: it sets `request_id` to an ID of its
        // own. These are its fields, and the fields that `DefaultRootSpanBuilder::on_request_end`
        // fills in are declared here too.
        tracing::info_span!(
            "HTTP request",
            request_id = %request_id,
            http.method = %request.method(),
            http.route = %route.as_deref().unwrap_or(UNMATCHED_ROUTE),
            http.target = %request.uri(),
            http.flavor = ?request.version(),
            http.scheme = %connection.scheme(),
            http.host = %connection.host(),
            http.client_ip = %client_ip.as_deref().unwrap_or(""),
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids() {
        assert!(is_sane(b"abc-123_XYZ.{}:/"));
        assert!(is_sane(&[b'a'; MAX_LEN]));
        assert!(!is_sane(b""));
        assert!(!is_sane(&[b'a'; MAX_LEN + 1]));
        assert!(!is_sane(b"a b"));
        assert!(!is_sane(b"a\tb"));
        assert!(!is_sane(b"a\nb"));
        assert!(!is_sane("caf\u{e9}".as_bytes()));
    }

    /// An error that a middleware returns instead of a response still answers with the ID.
    #[actix_web::test]
    async fn an_error_instead_of_a_response_carries_the_id() {
        let inner = std::future::ready(Err::<ServiceResponse, _>(Error::from(
            crate::ApiError::NoRoute,
        )));
        let id = HeaderValue::from_static("from-an-error");
        let outcome = WithId {
            inner,
            id: Some(id.clone()),
        }
        .await;
        let Err(err) = outcome else {
            panic!("the error is kept");
        };
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers().get(HEADER), Some(&id));
    }

    #[test]
    fn generated_ids_are_sane_and_differ() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert!(is_sane(a.as_str().as_bytes()));
        assert_eq!(a.as_str().len(), 36);
    }
}
