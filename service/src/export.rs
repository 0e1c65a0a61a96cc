//! A span exporter wrapper that reports export trouble at a limited rate.
//!
//! With the collector down, the batch processor fails once per batch and the
//! OTLP crate would log every failure. The wrapper logs the first failure at
//! once, then at most one summary per [`REPORT_EVERY`] (how many batches and
//! spans were lost meanwhile), and one line when exports work again.
//! Requests never wait for any of this: spans are queued and exported on the
//! batch processor's own thread.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::log_limit::LogLimit;

/// Shortest interval between two "export failing" log lines.
pub const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Wraps `E`, logging its failures at a limited rate.
pub struct ReportingExporter<E> {
    inner: E,
    endpoint: String,
    failing: AtomicBool,
    failed_batches: AtomicU64,
    failed_spans: AtomicU64,
    reports: LogLimit,
}

impl<E> fmt::Debug for ReportingExporter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportingExporter")
            .field("endpoint", &self.endpoint)
            .field("failing", &self.failing)
            .finish_non_exhaustive()
    }
}

impl<E> ReportingExporter<E> {
    /// `endpoint` only appears in log lines.
    pub fn new(inner: E, endpoint: String) -> Self {
        Self {
            inner,
            endpoint,
            failing: AtomicBool::new(false),
            failed_batches: AtomicU64::new(0),
            failed_spans: AtomicU64::new(0),
            reports: LogLimit::new(REPORT_EVERY),
        }
    }

    fn on_success(&self) {
        if self.failing.swap(false, Ordering::AcqRel) {
            let batches = self.failed_batches.swap(0, Ordering::AcqRel);
            let spans = self.failed_spans.swap(0, Ordering::AcqRel);
            tracing::info!(
                endpoint = %self.endpoint,
                lost_batches = batches,
                lost_spans = spans,
                "span export works again"
            );
        }
    }

    fn on_failure(&self, error: &dyn fmt::Display, spans: usize) {
        self.failing.store(true, Ordering::Release);
        self.failed_batches.fetch_add(1, Ordering::AcqRel);
        self.failed_spans.fetch_add(spans as u64, Ordering::AcqRel);
        if self.reports.pass(false).is_none() {
            return;
        }
        let batches = self.failed_batches.swap(0, Ordering::AcqRel);
        let spans = self.failed_spans.swap(0, Ordering::AcqRel);
        tracing::warn!(
            endpoint = %self.endpoint,
            %error,
            lost_batches = batches,
            lost_spans = spans,
            "span export failing; requests are unaffected, spans are dropped (next report in {}s at most)",
            REPORT_EVERY.as_secs()
        );
    }
}

impl<E: SpanExporter> SpanExporter for ReportingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => self.on_success(),
            Err(error) => self.on_failure(error, spans),
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
