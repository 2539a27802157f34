//! `GET /metrics` in the Prometheus text format (version 0.0.4), from a `prometheus-client`
//! registry, and the middleware that records every request into it.
//!
//! Requests are labelled by route *template* (`/posts/post-reaction/{id}/`, never the raw path)
//! so that the number of series stays bounded; a path that no route matches is labelled
//! [`UNMATCHED_ROUTE`]. What the HTTP layer cannot see (the connection pool, the batchers) comes
//! from [`Collector`]s that the binary adds with [`Metrics::with_source`] and that run only when
//! `/metrics` is read.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::routes::resource;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `route` label of requests that no route matches.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds of the latency buckets, in seconds: 1 ms to 10 s.
const LATENCY_BOUNDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The methods labelled as such; any other is `other`, so that a client inventing methods
/// cannot make new series.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

type RouteLabel = [(&'static str, String); 1];

/// The registry: per-route counters and latency histograms, requests in flight, and the sources
/// the binary adds. Register it as `web::Data<Metrics>`, which the endpoint and [`record`] read.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram>,
    in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        // The registry ends each help text with a period, and counters' names with `_total`.
        let requests = Family::default();
        let help = "HTTP requests answered, by route template, method and status";
        registry.register("http_requests", help, requests.clone());
        let latency: Family<_, _> = Family::new_with_constructor(|| Histogram::new(LATENCY_BOUNDS));
        let help = "Time from the request's arrival to its response head, by route template";
        registry.register("http_request_duration_seconds", help, latency.clone());
        let in_flight = Gauge::default();
        let help = "HTTP requests being answered now";
        registry.register("http_requests_in_flight", help, in_flight.clone());
        Self {
            registry,
            requests,
            latency,
            in_flight,
        }
    }
}

impl Metrics {
    /// Adds figures read on each scrape, after the HTTP ones.
    #[must_use]
    pub fn with_source(mut self, source: impl Collector) -> Self {
        self.registry.register_collector(Box::new(source));
        self
    }

    /// Counts one answered request. `route` is the matched template, `None` when nothing matched.
    pub fn record(
        &self,
        route: Option<&str>,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or(UNMATCHED_ROUTE);
        let route_label = [("route", route.to_owned())];
        self.latency
            .get_or_create(&route_label)
            .observe(elapsed.as_secs_f64());
        let method = METHODS.into_iter().find(|known| *known == method.as_str());
        let labels = RequestLabels {
            route: route.to_owned(),
            method: method.unwrap_or("other"),
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// The whole exposition, as `GET /metrics` answers it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Only a source can fail (a `String` takes every write); what it wrote so far stays.
        if let Err(err) = prometheus_text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %err, "a metrics source failed");
        }
        out
    }
}

/// Registers `GET /metrics`; needs `web::Data<Metrics>` in the application data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics").route(web::get().to(exposition)));
}

async fn exposition(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.render())
}

/// The middleware that records every request into the application's `web::Data<Metrics>`
/// (without one it records nothing): `.wrap(from_fn(metrics::record))`, outermost, so that it
/// sees every answer, errors and `404`s included.
///
/// # Errors
/// Only the inner service's.
pub async fn record<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let Some(metrics) = req.app_data::<web::Data<Metrics>>().cloned() else {
        return next.call(req).await;
    };
    let (method, start) = (req.method().clone(), Instant::now());
    let _in_flight = InFlight::new(&metrics.in_flight);
    let outcome = next.call(req).await;
    let (route, status) = match &outcome {
        // After routing, actix finds the template by the matched resource, without matching the
        // path again.
        Ok(response) => (response.request().match_pattern(), response.status()),
        // No request comes back with an error, so its route is unknown here. The handlers turn
        // their errors into responses; only a middleware could fail this way.
        Err(err) => (None, err.as_response_error().status_code()),
    };
    metrics.record(route.as_deref(), &method, status, start.elapsed());
    outcome
}

/// Takes a request off the in-flight gauge when its future ends, answered or dropped (a client
/// that went away: such a request is not counted).
struct InFlight(Gauge);

impl InFlight {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
    use prometheus_client::metrics::MetricType;
    use prometheus_client::metrics::gauge::ConstGauge;

    use super::*;

    /// A source of figures, written as the binary's sources write them.
    #[derive(Debug)]
    struct Source(fn(&mut DescriptorEncoder) -> fmt::Result);

    impl Collector for Source {
        fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
            (self.0)(&mut out)
        }
    }

    fn exposition(source: Source) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(source));
        let mut out = String::new();
        assert!(prometheus_text::encode(&mut out, &registry).is_ok());
        out
    }

    #[test]
    fn histograms_are_cumulative_and_end_with_the_count() {
        // Two observations up to 0.5, none in (0.5, 1], three beyond.
        let text = exposition(Source(|out| {
            out.encode_descriptor("h", "A test.", None, MetricType::Histogram)?
                .encode_family(&[("route", "/a/{id}/")])?
                .encode_histogram::<NoLabelSet>(4.5, 5, &[(0.5, 2), (1.0, 0)], None)
        }));
        assert_eq!(
            text,
            "# HELP h A test.\n# TYPE h histogram\n\
             h_bucket{route=\"/a/{id}/\",le=\"0.5\"} 2\n\
             h_bucket{route=\"/a/{id}/\",le=\"1\"} 2\n\
             h_bucket{route=\"/a/{id}/\",le=\"+Inf\"} 5\n\
             h_sum{route=\"/a/{id}/\"} 4.5\n\
             h_count{route=\"/a/{id}/\"} 5\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let text = exposition(Source(|out| {
            let mut family = out.encode_descriptor("g", "G.", None, MetricType::Gauge)?;
            ConstGauge::new(1).encode(family.encode_family(&[("a", "x\"y\\z\nw")])?)
        }));
        assert!(text.ends_with("\ng{a=\"x\\\"y\\\\z\\nw\"} 1\n"), "{text}");
    }

    #[test]
    fn requests_are_counted_by_route_method_and_status() {
        let metrics = Metrics::default().with_source(Source(|out| {
            let gauge = out.encode_descriptor("extra", "Extra.", None, MetricType::Gauge)?;
            ConstGauge::new(7).encode(gauge)
        }));
        let ms = Duration::from_millis;
        metrics.record(Some("/p/{id}/"), &Method::GET, StatusCode::OK, ms(3));
        metrics.record(Some("/p/{id}/"), &Method::GET, StatusCode::OK, ms(30));
        metrics.record(
            Some("/p/{id}/"),
            &Method::POST,
            StatusCode::NOT_FOUND,
            ms(0),
        );
        metrics.record(
            None,
            &Method::from_bytes(b"BREW").unwrap_or(Method::GET),
            StatusCode::NOT_FOUND,
            ms(20_000),
        );
        let text = metrics.render();
        for line in [
            "http_requests_total{route=\"/p/{id}/\",method=\"GET\",status=\"200\"} 2",
            "http_requests_total{route=\"/p/{id}/\",method=\"POST\",status=\"404\"} 1",
            "http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 1",
            "http_request_duration_seconds_bucket{route=\"/p/{id}/\",le=\"0.001\"} 1",
            "http_request_duration_seconds_bucket{route=\"/p/{id}/\",le=\"0.005\"} 2",
            "http_request_duration_seconds_bucket{route=\"/p/{id}/\",le=\"0.05\"} 3",
            "http_request_duration_seconds_count{route=\"/p/{id}/\"} 3",
            "http_request_duration_seconds_bucket{route=\"unmatched\",le=\"10\"} 0",
            "http_request_duration_seconds_bucket{route=\"unmatched\",le=\"+Inf\"} 1",
            "http_requests_in_flight 0",
            "extra 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
