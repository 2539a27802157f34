//! `GET /metrics` in the Prometheus text format (version 0.0.4), and the middleware that records
//! every request.
//!
//! Requests are labelled by route *template* (`/posts/post-reaction/{id}/`, never the raw path)
//! so that the number of series stays bounded; a path that no route matches is labelled
//! [`UNMATCHED_ROUTE`]. Recording is cheap on the hot path: a read lock on the map of routes
//! (written only the first time a route, method or status is seen), then relaxed atomic
//! increments. What the HTTP layer cannot see (the connection pool, the batchers) comes from
//! [`MetricsSource`]s that the binary registers and that run only when `/metrics` is read.

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{Method, StatusCode};
use actix_web::{Error, HttpResponse, web};

use crate::routes::resource;

/// The `route` label of requests that no route matches.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `Content-Type` of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency buckets, in microseconds: 1 ms to 10 s.
const LATENCY_BOUNDS_MICROS: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// The `method` labels; any other method is counted as `other`, so that a client inventing
/// methods cannot make new series.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];

fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Figures that the binary adds to the exposition (pool, batchers); called on each scrape.
pub trait MetricsSource: Send + Sync {
    fn collect(&self, out: &mut Exposition);
}

impl<F> MetricsSource for F
where
    F: Fn(&mut Exposition) + Send + Sync,
{
    fn collect(&self, out: &mut Exposition) {
        self(out);
    }
}

/// The kind of a metric family, as its `# TYPE` line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A text exposition being written. Each family starts with [`Exposition::family`], followed by
/// all of its samples: the format wants a family's samples together.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Display,
    ) -> &mut Self {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// The samples of one histogram: `counts[i]` observations fell at or below `bounds[i]` and
    /// above the previous bound (not cumulative); `counts[bounds.len()]`, if present, above every
    /// bound. Writes the cumulative `_bucket` lines, `_sum` and `_count` (the `+Inf` bucket).
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) -> &mut Self {
        let mut cumulative = 0u64;
        for (i, bound) in bounds.iter().enumerate() {
            cumulative += counts.get(i).copied().unwrap_or(0);
            self.bucket(name, labels, &bound.to_string(), cumulative);
        }
        let total = cumulative + counts.iter().skip(bounds.len()).sum::<u64>();
        self.bucket(name, labels, "+Inf", total);
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {sum}");
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {total}");
        self
    }

    fn bucket(&mut self, name: &str, labels: &[(&str, &str)], le: &str, count: u64) {
        let _ = write!(self.out, "{name}_bucket");
        self.labels(labels, Some(le));
        let _ = writeln!(self.out, " {count}");
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let le = le.map(|le| ("le", le));
        for (i, (name, value)) in labels.iter().copied().chain(le).enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(name);
            self.out.push_str("=\"");
            for c in value.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }

    pub fn into_string(self) -> String {
        self.out
    }
}

/// Responses of one route with one method and one status.
struct ResponseCount {
    method: u8,
    status: u16,
    count: AtomicU64,
}

/// Everything recorded about one route template.
#[derive(Default)]
struct RouteMetrics {
    /// A handful of entries per route: a linear scan beats hashing.
    responses: RwLock<Vec<ResponseCount>>,
    /// Not cumulative: `latency[i]` counts durations in `(bound[i-1], bound[i]]`, the last entry
    /// those beyond every bound.
    latency: [AtomicU64; LATENCY_BOUNDS_MICROS.len() + 1],
    latency_sum_micros: AtomicU64,
}

impl RouteMetrics {
    fn record(&self, method: u8, status: u16, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
        let counted = read(&self.responses)
            .iter()
            .find(|r| r.method == method && r.status == status)
            .map(|r| r.count.fetch_add(1, Ordering::Relaxed))
            .is_some();
        if !counted {
            let mut responses = write(&self.responses);
            match responses
                .iter()
                .find(|r| r.method == method && r.status == status)
            {
                Some(r) => {
                    r.count.fetch_add(1, Ordering::Relaxed);
                }
                None => responses.push(ResponseCount {
                    method,
                    status,
                    count: AtomicU64::new(1),
                }),
            }
        }
    }
}

// Every critical section leaves its map or vector whole, so a poisoned lock is still consistent.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The registry: per-route counters and latency histograms, requests in flight, and the sources
/// the binary adds. Share one `Arc<Metrics>` between the middleware and the endpoint.
#[derive(Default)]
pub struct Metrics {
    routes: RwLock<HashMap<Box<str>, RouteMetrics>>,
    in_flight: AtomicI64,
    sources: Vec<Box<dyn MetricsSource>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds figures read on each scrape, after the HTTP ones.
    #[must_use]
    pub fn with_source(mut self, source: impl MetricsSource + 'static) -> Self {
        self.sources.push(Box::new(source));
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
        self.record_method(route, method_index(method), status, elapsed);
    }

    fn record_method(
        &self,
        route: Option<&str>,
        method: u8,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or(UNMATCHED_ROUTE);
        let status = status.as_u16();
        if let Some(metrics) = read(&self.routes).get(route) {
            metrics.record(method, status, elapsed);
            return;
        }
        write(&self.routes)
            .entry(route.into())
            .or_default()
            .record(method, status, elapsed);
    }

    /// The whole exposition, as `GET /metrics` answers it.
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        {
            let routes = read(&self.routes);
            let mut routes: Vec<_> = routes.iter().collect();
            routes.sort_unstable_by(|a, b| a.0.cmp(b.0));

            let name = "http_requests_total";
            out.family(
                name,
                Kind::Counter,
                "HTTP requests answered, by route template, method and status.",
            );
            for &(route, metrics) in &routes {
                let route: &str = route;
                let responses = read(&metrics.responses);
                let mut rows: Vec<_> = responses
                    .iter()
                    .map(|r| (r.method, r.status, r.count.load(Ordering::Relaxed)))
                    .collect();
                drop(responses);
                rows.sort_unstable();
                for (method, status, count) in rows {
                    let status = status.to_string();
                    let labels = [
                        ("route", route),
                        ("method", METHODS[usize::from(method)]),
                        ("status", status.as_str()),
                    ];
                    out.sample(name, &labels, count);
                }
            }

            let name = "http_request_duration_seconds";
            out.family(
                name,
                Kind::Histogram,
                "Time from the request's arrival to its response head, by route template.",
            );
            let bounds: Vec<f64> = LATENCY_BOUNDS_MICROS
                .iter()
                .map(|&micros| micros as f64 / 1e6)
                .collect();
            for &(route, metrics) in &routes {
                let counts: Vec<u64> = metrics
                    .latency
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .collect();
                let sum = metrics.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
                out.histogram(name, &[("route", &**route)], &bounds, &counts, sum);
            }
        }

        let name = "http_requests_in_flight";
        out.family(name, Kind::Gauge, "HTTP requests being answered now.")
            .sample(name, &[], self.in_flight.load(Ordering::Relaxed));

        for source in &self.sources {
            source.collect(&mut out);
        }
        out.into_string()
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

/// The middleware that records every request into a [`Metrics`]; wrap it outermost so that it
/// sees every answer, errors and `404`s included.
#[derive(Clone)]
pub struct RecordMetrics {
    metrics: Arc<Metrics>,
}

impl RecordMetrics {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RecordMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = RecordMetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RecordMetricsService {
            service,
            metrics: self.metrics.clone(),
        }))
    }
}

pub struct RecordMetricsService<S> {
    service: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<ServiceRequest> for RecordMetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Recording<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        self.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let method = method_index(req.method());
        Recording {
            inner: self.service.call(req),
            in_flight: InFlight(self.metrics.clone()),
            method,
            start: Instant::now(),
        }
    }
}

/// Takes a request off the in-flight gauge when its future ends, answered or dropped (a client
/// that went away).
struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// The future of a recorded request: the inner future, then one record.
    pub struct Recording<F> {
        #[pin]
        inner: F,
        in_flight: InFlight,
        method: u8,
        start: Instant,
    }
}

impl<F, B> Future for Recording<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome = std::task::ready!(this.inner.poll(cx));
        let elapsed = this.start.elapsed();
        match &outcome {
            // After routing, actix finds the template by the matched resource, without matching
            // the path again.
            Ok(response) => this.in_flight.0.record_method(
                response.request().match_pattern().as_deref(),
                *this.method,
                response.status(),
                elapsed,
            ),
            // No request comes back with an error, so its route is unknown here. The handlers
            // turn their errors into responses; only a middleware could fail this way.
            Err(err) => this.in_flight.0.record_method(
                None,
                *this.method,
                err.as_response_error().status_code(),
                elapsed,
            ),
        }
        Poll::Ready(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_end_with_the_count() {
        let mut out = Exposition::default();
        out.family("h", Kind::Histogram, "A test.").histogram(
            "h",
            &[("route", "/a/{id}/")],
            &[0.5, 1.0],
            &[2, 0, 3],
            4.5,
        );
        assert_eq!(
            out.into_string(),
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
        let mut out = Exposition::default();
        out.sample("g", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(out.into_string(), "g{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }

    #[test]
    fn requests_are_counted_by_route_method_and_status() {
        let metrics = Metrics::new().with_source(|out: &mut Exposition| {
            out.family("extra", Kind::Gauge, "Extra.")
                .sample("extra", &[], 7);
        });
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
