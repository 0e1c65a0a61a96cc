//! Request metrics: OpenTelemetry instruments exposed in Prometheus format.
//!
//! The instruments are recorded through the OpenTelemetry SDK and read by the
//! `opentelemetry-prometheus` exporter, which lives in this service's own
//! [`prometheus::Registry`] (not the process-global default registry). The
//! names follow the HTTP semantic conventions and come out in Prometheus as:
//!
//! | instrument | Prometheus series |
//! |---|---|
//! | counter `http.server.requests` | `http_server_requests_total` |
//! | histogram `http.server.request.duration` (s) | `http_server_request_duration_seconds_{bucket,sum,count}` |
//! | up-down counter `http.server.active_requests` | `http_server_active_requests` |
//!
//! with the labels `http_request_method`, `http_route` and
//! `http_response_status_code` (the active-requests gauge only has the
//! method). Scope labels (`otel_scope_*`) are switched off: they would add
//! three constant labels to every series for no query benefit. The span
//! export queue's `otel_sdk_processor_span_*` series are registered here too
//! (see [`crate::span_queue`]).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{
    BoundCounter, BoundHistogram, Counter, Histogram, MeterProvider as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder as _, Registry, TextEncoder};

use crate::routes;

/// Bucket boundaries (seconds) advised by the HTTP semantic conventions for
/// `http.server.request.duration`. The SDK's default buckets are meant for
/// milliseconds and would put every request into the first bucket.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The method label values: the nine standard methods, then `_OTHER` for
/// anything else, so clients cannot grow the label set by inventing methods.
pub const METHOD_LABELS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

/// Index of `method`'s label in [`METHOD_LABELS`].
pub fn method_index(method: &http::Method) -> usize {
    let name = method.as_str();
    METHOD_LABELS[..9]
        .iter()
        .position(|known| *known == name)
        .unwrap_or(9)
}

/// Errors while setting up the metrics pipeline.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The Prometheus exporter could not be built or registered.
    #[error("cannot set up the Prometheus exporter: {0}")]
    Exporter(String),
    /// The exposition could not be encoded.
    #[error("cannot encode the Prometheus exposition: {0}")]
    Encode(#[from] prometheus::Error),
}

/// The metrics pipeline: meter provider, registry and the HTTP instruments.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    provider: SdkMeterProvider,
    /// The instruments the HTTP middleware records into.
    pub http: HttpMetrics,
}

/// The HTTP server instruments.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    in_flight: Arc<InFlight>,
    series: Arc<SeriesCache>,
}

/// Status codes with a slot in [`SeriesCache`]: those the service answers.
/// Others are recorded through the instruments' attribute lookup.
const CACHED_STATUSES: [u16; 12] = [200, 201, 400, 404, 405, 409, 413, 415, 422, 429, 500, 503];

/// Route slots: the route templates, then "no route" (unmatched path).
const ROUTE_SLOTS: usize = routes::ALL.len() + 1;

/// One slot per (method label, route, status): the counter and histogram
/// bound to that attribute set on its first request.
///
/// An unbound `add`/`record` hashes the three attributes (SipHash) and
/// looks the series up under a lock, once per instrument: about half of
/// what the middleware cost per request. A bound instrument writes to its
/// series directly. The slots are filled lazily, so a series still appears
/// only once a request has been recorded into it, and the exposition is the
/// same as without the cache.
struct SeriesCache {
    slots: Box<[OnceLock<BoundSeries>]>,
}

struct BoundSeries {
    requests: BoundCounter<u64>,
    duration: BoundHistogram<f64>,
}

impl std::fmt::Debug for SeriesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound = self
            .slots
            .iter()
            .filter(|slot| slot.get().is_some())
            .count();
        f.debug_struct("SeriesCache")
            .field("bound", &bound)
            .finish()
    }
}

impl SeriesCache {
    fn new() -> Self {
        let len = METHOD_LABELS.len() * ROUTE_SLOTS * CACHED_STATUSES.len();
        Self {
            slots: (0..len).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The slot for a request, or `None` for a status or route (a template
    /// missing from [`routes::ALL`]) without one.
    fn slot(
        &self,
        method: usize,
        route: Option<&str>,
        status: u16,
    ) -> Option<&OnceLock<BoundSeries>> {
        let route = match route {
            Some(template) => routes::ALL.iter().position(|known| *known == template)?,
            None => routes::ALL.len(),
        };
        let status = CACHED_STATUSES.iter().position(|known| *known == status)?;
        self.slots
            .get((method * ROUTE_SLOTS + route) * CACHED_STATUSES.len() + status)
    }
}

/// Requests in flight per method label: plain atomics, read by an
/// asynchronous instrument at scrape time. Two SDK updates per request
/// (+1, -1) would cost about as much as the counter and histogram together.
///
/// The counts are sharded by thread: one shared counter written by every
/// worker on every request would bounce its cache line between cores. A
/// request may end on another thread than it started; only the sum over
/// shards is meaningful, and it is exact.
#[derive(Debug, Default)]
struct InFlight {
    shards: [InFlightShard; IN_FLIGHT_SHARDS],
    /// Methods seen at least once: only those are exported, so an idle
    /// method does not appear as a series of zeros from the start.
    seen: [AtomicBool; 10],
}

/// More shards than worker threads on small hosts; threads beyond share.
const IN_FLIGHT_SHARDS: usize = 8;

/// One shard's counts per method label, alone on its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct InFlightShard([AtomicI64; 10]);

impl InFlight {
    /// The calling thread's shard.
    fn shard(&self) -> &InFlightShard {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % IN_FLIGHT_SHARDS;
        }
        &self.shards[SHARD.with(|shard| *shard)]
    }

    fn total(&self, method: usize) -> i64 {
        self.shards
            .iter()
            .map(|shard| shard.0[method].load(Ordering::Relaxed))
            .sum()
    }
}

impl Metrics {
    /// Builds the pipeline with its own registry. `resource` ends up on the
    /// `target_info` series.
    pub fn new(resource: Resource) -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .build()
            .map_err(|err| MetricsError::Exporter(err.to_string()))?;
        let provider = SdkMeterProvider::builder()
            .with_reader(exporter)
            .with_resource(resource)
            .build();
        let meter = provider.meter("service");
        crate::span_queue::register(&meter);
        let in_flight = Arc::new(InFlight::default());
        let observed = in_flight.clone();
        // The instrument handle only marks the registration; the callback
        // stays registered with the provider.
        let _active = meter
            .i64_observable_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description("Number of HTTP requests in flight.")
            .with_callback(move |observer| {
                for (index, label) in METHOD_LABELS.iter().enumerate() {
                    if observed.seen[index].load(Ordering::Relaxed) {
                        observer.observe(
                            observed.total(index),
                            &[KeyValue::new("http.request.method", *label)],
                        );
                    }
                }
            })
            .build();
        let http = HttpMetrics {
            requests: meter
                .u64_counter("http.server.requests")
                .with_unit("{request}")
                .with_description("Number of HTTP requests answered, by method, route and status.")
                .build(),
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            in_flight,
            series: Arc::new(SeriesCache::new()),
        };
        Ok(Self {
            registry,
            provider,
            http,
        })
    }

    /// Encodes every series in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> Result<Vec<u8>, MetricsError> {
        let families = self.registry.gather();
        let mut buffer = Vec::with_capacity(8 * 1024);
        TextEncoder::new().encode(&families, &mut buffer)?;
        Ok(buffer)
    }

    /// The content type of [`Metrics::render`]'s output.
    pub fn content_type() -> &'static str {
        prometheus::TEXT_FORMAT
    }

    /// Stops the meter provider (nothing is pushed anywhere: a last scrape
    /// is all a pull exporter can lose).
    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }
}

/// The attribute set of a request's series, always in this order.
fn attributes(
    method: &'static str,
    route: Option<&Cow<'static, str>>,
    status: u16,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(3);
    attributes.push(KeyValue::new("http.request.method", method));
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.clone()));
    }
    attributes.push(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    attributes
}

impl HttpMetrics {
    /// Records one answered request: one count and one duration sample.
    ///
    /// `method` indexes [`METHOD_LABELS`]. The attributes are always passed
    /// in the same order, which lets the SDK find the series with a single
    /// hash lookup (it sorts otherwise); the usual series skip even that
    /// (see [`SeriesCache`]).
    pub fn record(
        &self,
        method: usize,
        route: Option<&Cow<'static, str>>,
        status: u16,
        elapsed: Duration,
    ) {
        let seconds = elapsed.as_secs_f64();
        let method_label = METHOD_LABELS.get(method).copied().unwrap_or("_OTHER");
        let Some(slot) = self.series.slot(method, route.map(|r| r.as_ref()), status) else {
            self.record_unbound(method_label, route, status, seconds);
            return;
        };
        let series = slot.get_or_init(|| {
            let attributes = attributes(method_label, route, status);
            BoundSeries {
                requests: self.requests.bind(&attributes),
                duration: self.duration.bind(&attributes),
            }
        });
        series.requests.add(1);
        series.duration.record(seconds);
    }

    fn record_unbound(
        &self,
        method: &'static str,
        route: Option<&Cow<'static, str>>,
        status: u16,
        seconds: f64,
    ) {
        let attributes = attributes(method, route, status);
        self.requests.add(1, &attributes);
        self.duration.record(seconds, &attributes);
    }

    /// Counts a request the router never saw: hyper rejected its head (with
    /// `error.type` naming why, and the status hyper answered), or the
    /// client left in the middle of it (no status). Its method is unknown,
    /// hence `_OTHER`; the label values come from a closed set.
    pub fn record_rejection(&self, rejection: http_server::Rejection) {
        let mut attributes = vec![KeyValue::new("http.request.method", "_OTHER")];
        if let Some(status) = rejection.status() {
            attributes.push(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        attributes.push(KeyValue::new("error.type", rejection.as_str()));
        self.requests.add(1, &attributes);
    }

    /// Counts a request whose client left before the answer: no status, and
    /// no duration sample (the request did not finish).
    pub fn record_abandoned(&self, method: usize, route: Option<&Cow<'static, str>>) {
        let method = METHOD_LABELS.get(method).copied().unwrap_or("_OTHER");
        let mut attributes = vec![KeyValue::new("http.request.method", method)];
        if let Some(route) = route {
            attributes.push(KeyValue::new("http.route", route.clone()));
        }
        attributes.push(KeyValue::new("error.type", "client_closed"));
        self.requests.add(1, &attributes);
    }

    /// Marks a request with method label `METHOD_LABELS[method]` as started
    /// (`+1`) or finished (`-1`).
    pub fn active(&self, method: usize, delta: i64) {
        let Some(count) = self.in_flight.shard().0.get(method) else {
            return;
        };
        count.fetch_add(delta, Ordering::Relaxed);
        if !self.in_flight.seen[method].load(Ordering::Relaxed) {
            self.in_flight.seen[method].store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_collapse() {
        let label = |method: &http::Method| METHOD_LABELS[method_index(method)];
        assert_eq!(label(&http::Method::GET), "GET");
        assert_eq!(label(&http::Method::PATCH), "PATCH");
        let custom = http::Method::from_bytes(b"BREW").expect("valid token");
        assert_eq!(label(&custom), "_OTHER");
    }

    #[test]
    fn exposition_has_contract_names_and_no_scope_labels() {
        let metrics = Metrics::new(Resource::builder_empty().build()).expect("metrics");
        let route = Cow::Borrowed("/api/items/{id}");
        metrics
            .http
            .record(0, Some(&route), 200, Duration::from_millis(3));
        metrics.http.active(0, 1);
        let text = String::from_utf8(metrics.render().expect("render")).expect("utf-8");
        assert!(text.contains(
            r#"http_server_requests_total{http_request_method="GET",http_response_status_code="200",http_route="/api/items/{id}"} 1"#
        ), "{text}");
        assert!(text.contains("http_server_request_duration_seconds_bucket"));
        assert!(text.contains(r#"le="0.005""#));
        assert!(text.contains(r#"http_server_active_requests{http_request_method="GET"} 1"#));
        assert!(!text.contains("otel_scope"));
    }
}
