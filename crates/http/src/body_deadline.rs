//! A deadline for receiving a request's body, so that a client trickling one byte at a time
//! cannot hold a connection (and the worker's memory for its body) for ever. actix-web bounds
//! the time to receive the head (`client_request_timeout`) but not the body.
//!
//! Past the deadline the body stream yields a timed-out error, which the body readers answer
//! with `408` ([`crate::ApiError::RequestTimeout`]); the connection then closes, since the rest
//! of its body was never read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::rt::time::{Sleep, sleep};
use actix_web::web::{self, Bytes};
use futures_util::Stream;
use pin_project_lite::pin_project;

use crate::AppState;

/// Gives every request body [`crate::HttpLimits::body_timeout`] to arrive in full. Requests
/// without a body pass untouched.
pub async fn enforce<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.limits.body_timeout);
    let payload = req.take_payload();
    let payload = match (payload, timeout) {
        (Payload::None, _) | (_, None) => Payload::None,
        (payload, Some(timeout)) => Payload::from(
            Box::pin(Deadline::new(payload, timeout)) as Pin<Box<dyn Stream<Item = _>>>
        ),
    };
    req.set_payload(payload);
    next.call(req).await
}

/// Whether a body failed because its deadline passed.
pub(crate) fn is_timeout(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(err) if err.kind() == io::ErrorKind::TimedOut)
}

pin_project! {
    struct Deadline<S> {
        #[pin]
        inner: S,
        #[pin]
        sleep: Sleep,
        expired: bool,
    }
}

impl<S> Deadline<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            sleep: sleep(timeout),
            expired: false,
        }
    }
}

impl<S: Stream<Item = Result<Bytes, PayloadError>>> Stream for Deadline<S> {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = this.inner.poll_next(cx) {
            return Poll::Ready(item);
        }
        if this.sleep.poll(cx).is_ready() {
            *this.expired = true;
            let err = io::Error::new(io::ErrorKind::TimedOut, "request body deadline passed");
            return Poll::Ready(Some(Err(PayloadError::Io(err))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::{StreamExt as _, stream};

    fn abc() -> impl Stream<Item = Result<Bytes, PayloadError>> {
        stream::iter([Ok(Bytes::from_static(b"abc"))])
    }

    #[actix_web::test]
    async fn a_body_that_stops_coming_times_out_once() {
        let trickle = abc().chain(stream::pending());
        let mut body = Box::pin(Deadline::new(trickle, Duration::from_millis(50)));
        assert_eq!(
            body.next().await.unwrap().unwrap(),
            Bytes::from_static(b"abc")
        );
        assert!(is_timeout(&body.next().await.unwrap().unwrap_err()));
        assert!(body.next().await.is_none());
    }

    #[actix_web::test]
    async fn a_body_in_time_passes_whole() {
        let mut body = Box::pin(Deadline::new(abc(), Duration::from_secs(60)));
        assert_eq!(
            body.next().await.unwrap().unwrap(),
            Bytes::from_static(b"abc")
        );
        assert!(body.next().await.is_none());
    }
}
