//! The HTTP server instruments, recorded the cheap way.
//!
//! Recording with the plain SDK calls (`counter.add(1, &attributes)`,
//! `histogram.record(seconds, &attributes)`) makes the SDK hash the three
//! attributes with SipHash and look their series up in a map both cores
//! share, once per instrument. With the in-flight gauge's two updates that
//! cost 2.7 µs of CPU per request over `--telemetry off` on the benchmark
//! (`bench/run.sh`), against 0.6 µs this way (docs/performance.md). Here
//! instead:
//!
//! - the counter and histogram are bound to each attribute set on its
//!   first request (SDK bound instruments) and kept in [`HttpMetrics`]'s
//!   series map, so a request costs one lookup of a small key, borrowed
//!   from the request (no allocation) and hashed with foldhash (the keys
//!   are label values from closed sets, so a hash that resists flooding
//!   buys nothing);
//! - the in-flight gauge is one atomic count per method label, read by an
//!   asynchronous instrument at collection time.
//!
//! The exposition is the same as with the plain calls; the test at the
//! bottom records the same requests both ways and compares.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use hashbrown::{Equivalent, HashMap};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundCounter, BoundHistogram, Counter, Histogram, Meter};

use crate::semconv::{
    CLIENT_CLOSED, ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
    MethodLabel,
};

/// Bucket boundaries (seconds) advised by the HTTP semantic conventions for
/// `http.server.request.duration`. The SDK's default buckets are meant for
/// milliseconds and would put every request into the first bucket.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The HTTP server instruments.
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    series: RwLock<HashMap<SeriesKey, Series>>,
    in_flight: Arc<InFlight>,
}

/// The attributes of one answered request's series.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeriesKey {
    method: MethodLabel,
    route: Option<String>,
    status: StatusCode,
}

/// A [`SeriesKey`] borrowed from a request, to look its series up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesRef<'a> {
    method: MethodLabel,
    route: Option<&'a str>,
    status: StatusCode,
}

impl SeriesKey {
    fn borrowed(&self) -> SeriesRef<'_> {
        SeriesRef {
            method: self.method,
            route: self.route.as_deref(),
            status: self.status,
        }
    }

    fn attributes(&self) -> Vec<KeyValue> {
        let mut attributes = vec![KeyValue::new(HTTP_REQUEST_METHOD, self.method.as_str())];
        if let Some(route) = &self.route {
            attributes.push(KeyValue::new(HTTP_ROUTE, route.clone()));
        }
        attributes.push(KeyValue::new(
            HTTP_RESPONSE_STATUS_CODE,
            i64::from(self.status.as_u16()),
        ));
        attributes
    }
}

/// Hashed as its borrowed form, so that both find the same entry.
impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.borrowed().hash(state);
    }
}

impl Equivalent<SeriesKey> for SeriesRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        *self == key.borrowed()
    }
}

/// The counter and histogram bound to one [`SeriesKey`].
#[derive(Debug)]
struct Series {
    requests: BoundCounter<u64>,
    duration: BoundHistogram<f64>,
}

/// Requests in flight per method label, and whether the label was ever
/// used (only those are reported: an idle method is not a series of zeros).
#[derive(Debug, Default)]
struct InFlight {
    counts: [AtomicI64; MethodLabel::ALL.len()],
    seen: [AtomicBool; MethodLabel::ALL.len()],
}

impl InFlight {
    fn count(&self, method: MethodLabel) -> &AtomicI64 {
        &self.counts[method as usize]
    }

    fn seen(&self, method: MethodLabel) -> &AtomicBool {
        &self.seen[method as usize]
    }
}

impl HttpMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        let in_flight = Arc::new(InFlight::default());
        let observed = Arc::clone(&in_flight);
        // The handle only marks the registration; the callback stays
        // registered with the provider.
        let _active = meter
            .i64_observable_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description("Number of HTTP requests in flight.")
            .with_callback(move |observer| {
                for method in MethodLabel::ALL {
                    if observed.seen(method).load(Ordering::Relaxed) {
                        observer.observe(
                            observed.count(method).load(Ordering::Relaxed),
                            &[KeyValue::new(HTTP_REQUEST_METHOD, method.as_str())],
                        );
                    }
                }
            })
            .build();
        Self {
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
            series: RwLock::default(),
            in_flight,
        }
    }

    /// A request with this method started: the in-flight gauge rises.
    pub fn started(&self, method: MethodLabel) {
        self.in_flight.count(method).fetch_add(1, Ordering::Relaxed);
        let seen = self.in_flight.seen(method);
        if !seen.load(Ordering::Relaxed) {
            seen.store(true, Ordering::Relaxed);
        }
    }

    /// The request ended, answered or not: the in-flight gauge falls.
    pub fn ended(&self, method: MethodLabel) {
        self.in_flight.count(method).fetch_sub(1, Ordering::Relaxed);
    }

    /// Records one answered request: one count and one duration sample.
    /// `route` is the matched template, `None` for an unmatched path.
    pub fn record(
        &self,
        method: MethodLabel,
        route: Option<&str>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let key = SeriesRef {
            method,
            route,
            status,
        };
        let seconds = elapsed.as_secs_f64();
        let known = self.series.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = known.get(&key) {
            series.requests.add(1);
            series.duration.record(seconds);
            return;
        }
        drop(known);
        let key = SeriesKey {
            method,
            route: route.map(str::to_owned),
            status,
        };
        let attributes = key.attributes();
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        let series = series.entry(key).or_insert_with(|| Series {
            requests: self.requests.bind(&attributes),
            duration: self.duration.bind(&attributes),
        });
        series.requests.add(1);
        series.duration.record(seconds);
    }

    /// Counts a request whose client left before the answer: no status, and
    /// no duration sample (the request did not finish).
    pub fn record_abandoned(&self, method: MethodLabel, route: Option<&str>) {
        let mut attributes = vec![KeyValue::new(HTTP_REQUEST_METHOD, method.as_str())];
        if let Some(route) = route {
            attributes.push(KeyValue::new(HTTP_ROUTE, route.to_owned()));
        }
        attributes.push(KeyValue::new(ERROR_TYPE, CLIENT_CLOSED));
        self.requests.add(1, &attributes);
    }

    /// Counts a request the router never saw: hyper rejected its head (with
    /// `error.type` naming why, and the status hyper answered), or the
    /// client left in the middle of it (no status). Its method is unknown,
    /// hence `_OTHER`; the label values come from a closed set.
    pub fn record_rejection(&self, rejection: http_server::Rejection) {
        let mut attributes = vec![KeyValue::new(
            HTTP_REQUEST_METHOD,
            MethodLabel::Other.as_str(),
        )];
        if let Some(status) = rejection.status() {
            attributes.push(KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
        }
        attributes.push(KeyValue::new(ERROR_TYPE, rejection.as_str()));
        self.requests.add(1, &attributes);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::{MeterProvider as _, UpDownCounter};
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use prometheus::{Encoder as _, Registry, TextEncoder};

    use super::*;

    fn pipeline() -> (Registry, SdkMeterProvider, Meter) {
        let registry = Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .without_target_info()
            .build()
            .expect("exporter");
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let meter = provider.meter("service");
        (registry, provider, meter)
    }

    fn render(registry: &Registry) -> String {
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut text)
            .expect("encode");
        String::from_utf8(text).expect("utf-8")
    }

    /// Requests: method, route, status, duration (ms), still in flight.
    const REQUESTS: [(MethodLabel, Option<&str>, u16, u64, bool); 7] = [
        (MethodLabel::Get, Some("/api/items/{id}"), 200, 3, false),
        (MethodLabel::Get, Some("/api/items/{id}"), 200, 40, false),
        (MethodLabel::Get, Some("/api/items/{id}"), 404, 1, false),
        (MethodLabel::Post, Some("/api/items"), 201, 7, false),
        (MethodLabel::Other, None, 404, 0, false),
        (MethodLabel::Get, Some("/api/cpu"), 200, 2500, true),
        (MethodLabel::Delete, Some("/"), 405, 1, false),
    ];

    #[test]
    fn the_exposition_equals_the_plain_sdk_calls() {
        let (fast_registry, _fast_provider, fast_meter) = pipeline();
        let fast = HttpMetrics::new(&fast_meter);
        for (method, route, status, ms, in_flight) in REQUESTS {
            fast.started(method);
            let status = StatusCode::from_u16(status).expect("status");
            fast.record(method, route, status, Duration::from_millis(ms));
            if !in_flight {
                fast.ended(method);
            }
        }

        let (plain_registry, _plain_provider, plain_meter) = pipeline();
        let plain = HttpMetrics::new(&plain_meter);
        // The plain gauge: an SDK up-down counter of the same name.
        drop(plain_meter);
        let (gauge_registry, _gauge_provider, gauge_meter) = pipeline();
        let active: UpDownCounter<i64> = gauge_meter
            .i64_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description("Number of HTTP requests in flight.")
            .build();
        for (method, route, status, ms, in_flight) in REQUESTS {
            let method_attribute = [KeyValue::new(HTTP_REQUEST_METHOD, method.as_str())];
            active.add(1, &method_attribute);
            let key = SeriesKey {
                method,
                route: route.map(str::to_owned),
                status: StatusCode::from_u16(status).expect("status"),
            };
            let attributes = key.attributes();
            plain.requests.add(1, &attributes);
            let seconds = Duration::from_millis(ms).as_secs_f64();
            plain.duration.record(seconds, &attributes);
            if !in_flight {
                active.add(-1, &method_attribute);
            }
        }

        let fast = render(&fast_registry);
        let plain = render(&plain_registry) + &render(&gauge_registry);
        let lines = |text: &str| {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.sort();
            lines.dedup();
            lines
        };
        assert_eq!(lines(&fast), lines(&plain));
        assert!(
            fast.contains(r#"http_server_active_requests{http_request_method="GET"} 1"#),
            "{fast}"
        );
        assert!(
            fast.contains(r#"http_server_active_requests{http_request_method="DELETE"} 0"#),
            "{fast}"
        );
        assert!(!fast.contains(r#"http_request_method="PUT""#), "{fast}");
    }
}
