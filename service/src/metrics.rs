//! Request metrics: OpenTelemetry instruments exposed in Prometheus format.
//!
//! The instruments are recorded through the OpenTelemetry SDK and read by
//! the `opentelemetry-prometheus` exporter, which lives in this service's
//! own [`prometheus::Registry`] (not the process-global default registry).
//! The names follow the HTTP semantic conventions and come out as:
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
//! three constant labels to every series for no query benefit.

use std::time::Duration;

use axum::http::StatusCode;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _, UpDownCounter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder as _, Registry, TextEncoder};
use tracing_appender::non_blocking::ErrorCounter;

use crate::semconv::{ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE};

/// Bucket boundaries (seconds) advised by the HTTP semantic conventions for
/// `http.server.request.duration`. The SDK's default buckets are meant for
/// milliseconds and would put every request into the first bucket.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

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
    meter: Meter,
    /// The instruments the HTTP middleware records into.
    pub http: HttpMetrics,
}

/// The HTTP server instruments. Cheap to clone: three handles.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    active: UpDownCounter<i64>,
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
            active: meter
                .i64_up_down_counter("http.server.active_requests")
                .with_unit("{request}")
                .with_description("Number of HTTP requests in flight.")
                .build(),
        };
        Ok(Self {
            registry,
            provider,
            meter,
            http,
        })
    }

    /// The meter, for instruments of other parts (the span queue's).
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Reports on `/metrics` the log lines dropped because the log's writer
    /// thread fell behind (`service_log_lines_dropped_total`).
    pub fn observe_dropped_log_lines(&self, dropped: ErrorCounter) {
        // The handle only marks the registration; the callback stays
        // registered with the provider.
        let _dropped = self
            .meter
            .u64_observable_counter("service.log.lines.dropped")
            .with_unit("{line}")
            .with_description("Log lines dropped because the log writer fell behind.")
            .with_callback(move |observer| observer.observe(dropped.dropped_lines() as u64, &[]))
            .build();
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

impl HttpMetrics {
    /// A request with this method label started: the in-flight gauge rises.
    pub fn started(&self, method: &'static str) {
        self.active
            .add(1, &[KeyValue::new(HTTP_REQUEST_METHOD, method)]);
    }

    /// The request ended, answered or not: the in-flight gauge falls.
    pub fn ended(&self, method: &'static str) {
        self.active
            .add(-1, &[KeyValue::new(HTTP_REQUEST_METHOD, method)]);
    }

    /// Records one answered request: one count and one duration sample.
    /// `route` is the matched template, `None` for an unmatched path.
    pub fn record(
        &self,
        method: &'static str,
        route: Option<&str>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let mut attributes = Vec::with_capacity(3);
        attributes.push(KeyValue::new(HTTP_REQUEST_METHOD, method));
        if let Some(route) = route {
            attributes.push(KeyValue::new(HTTP_ROUTE, route.to_owned()));
        }
        attributes.push(KeyValue::new(
            HTTP_RESPONSE_STATUS_CODE,
            i64::from(status.as_u16()),
        ));
        self.requests.add(1, &attributes);
        self.duration.record(elapsed.as_secs_f64(), &attributes);
    }

    /// Counts a request whose client left before the answer: no status, and
    /// no duration sample (the request did not finish).
    pub fn record_abandoned(&self, method: &'static str, route: Option<&str>) {
        let mut attributes = vec![KeyValue::new(HTTP_REQUEST_METHOD, method)];
        if let Some(route) = route {
            attributes.push(KeyValue::new(HTTP_ROUTE, route.to_owned()));
        }
        attributes.push(KeyValue::new(ERROR_TYPE, "client_closed"));
        self.requests.add(1, &attributes);
    }

    /// Counts a request the router never saw: hyper rejected its head (with
    /// `error.type` naming why, and the status hyper answered), or the
    /// client left in the middle of it (no status). Its method is unknown,
    /// hence `_OTHER`; the label values come from a closed set.
    pub fn record_rejection(&self, rejection: http_server::Rejection) {
        let mut attributes = vec![KeyValue::new(HTTP_REQUEST_METHOD, "_OTHER")];
        if let Some(status) = rejection.status() {
            attributes.push(KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
        }
        attributes.push(KeyValue::new(ERROR_TYPE, rejection.as_str()));
        self.requests.add(1, &attributes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_contract_names_and_no_scope_labels() {
        let metrics = Metrics::new(Resource::builder_empty().build()).expect("metrics");
        metrics.http.record(
            "GET",
            Some("/api/items/{id}"),
            StatusCode::OK,
            Duration::from_millis(3),
        );
        metrics.http.started("GET");
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
