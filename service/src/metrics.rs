//! Request metrics: OpenTelemetry instruments exposed in Prometheus format.
//!
//! The instruments are recorded through the OpenTelemetry SDK and read by
//! the `opentelemetry-prometheus` exporter, which lives in this service's
//! own [`prometheus::Registry`] (not the process-global default registry).
//! The histogram and the gauge are the HTTP semantic conventions' own; the
//! counter is this service's (the product counts requests with a counter;
//! it equals the histogram's `_count`, plus the requests whose client left,
//! which have no duration). They come out as:
//!
//! | instrument | Prometheus series |
//! |---|---|
//! | counter `http.server.requests` | `http_server_requests_total` |
//! | histogram `http.server.request.duration` (s) | `http_server_request_duration_seconds_{bucket,sum,count}` |
//! | up-down counter `http.server.active_requests` | `http_server_active_requests` |
//!
//! with the labels `http_request_method`, `http_route` and
//! `http_response_status_code` (the active-requests gauge only has the
//! method), and `error_type` where the request failed without a status
//! (`client_closed`, or hyper's refusals). Left out of the conventions'
//! attributes: `url.scheme` (always `http` here) and `error.type` for a 5xx,
//! which the status code already says. Scope labels (`otel_scope_*`) are
//! switched off: they would add three constant labels to every series for
//! no query benefit.

mod http;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder as _, Registry, TextEncoder};

pub use http::HttpMetrics;

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
        let meter = provider.meter(env!("CARGO_PKG_NAME"));
        let http = HttpMetrics::new(&meter);
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
    pub fn observe_dropped_log_lines(&self, dropped: impl Fn() -> u64 + Send + Sync + 'static) {
        // The handle only marks the registration; the callback stays
        // registered with the provider.
        let _dropped = self
            .meter
            .u64_observable_counter("service.log.lines.dropped")
            .with_unit("{line}")
            .with_description("Log lines dropped because the log writer fell behind.")
            .with_callback(move |observer| observer.observe(dropped(), &[]))
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    use axum::http::StatusCode;

    #[test]
    fn exposition_has_contract_names_and_no_scope_labels() {
        let metrics = Metrics::new(Resource::builder_empty().build()).expect("metrics");
        metrics.http.record(
            crate::semconv::MethodLabel::Get,
            Some("/api/items/{id}"),
            StatusCode::OK,
            Duration::from_millis(3),
        );
        metrics.http.started(crate::semconv::MethodLabel::Get);
        let text = String::from_utf8(metrics.render().expect("render")).expect("utf-8");
        assert!(text.contains(
            r#"http_server_requests_total{http_request_method="GET",http_response_status_code="200",http_route="/api/items/{id}"} 1"#
        ), "{text}");
        assert!(text.contains("http_server_request_duration_seconds_bucket"));
        assert!(text.contains(r#"le="0.005""#));
        assert!(text.contains(r#"http_server_active_requests{http_request_method="GET"} 1"#));
        assert!(!text.contains("otel_scope"));
    }

    #[test]
    fn dropped_log_lines_have_the_documented_name() {
        let metrics = Metrics::new(Resource::builder_empty().build()).expect("metrics");
        metrics.observe_dropped_log_lines(|| 3);
        let text = String::from_utf8(metrics.render().expect("render")).expect("utf-8");
        assert!(
            text.lines()
                .any(|line| line == "service_log_lines_dropped_total 3"),
            "{text}"
        );
    }
}
