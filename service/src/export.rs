//! Export trouble, logged at a limited rate.
//!
//! With the collector down, every batch fails. [`ExportLog`] logs the first
//! failure at once, then at most one summary per [`REPORT_EVERY`] (how many
//! batches and spans were lost meanwhile), and one line when exports work
//! again. Spans a receiver took but rejected (OTLP partial success) get
//! their own line, at most one per [`REPORT_EVERY`]. At exit the run's
//! total is logged by the span queue
//! ([`crate::span_queue::SpanQueue::report_not_sent`]). Requests never wait
//! for any of this: it runs on the span processor's export thread.

use std::fmt;
use std::time::Duration;

use crate::log_limit::LogLimit;
use crate::otlp::exporter::PartialSuccess;

/// Shortest interval between two "export failing" log lines.
pub const REPORT_EVERY: Duration = Duration::from_secs(30);

/// The export outcomes of one endpoint, logged at a limited rate. Owned by
/// the export thread, the one place exports happen.
pub struct ExportLog {
    endpoint: String,
    failing: bool,
    /// Lost since the last report.
    failed_batches: u64,
    failed_spans: u64,
    reports: LogLimit,
    /// Rejected since the last report of rejections.
    rejected_spans: u64,
    rejections: LogLimit,
}

impl fmt::Debug for ExportLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportLog")
            .field("endpoint", &self.endpoint)
            .field("failing", &self.failing)
            .finish_non_exhaustive()
    }
}

impl ExportLog {
    /// `endpoint` only appears in log lines.
    pub fn new(endpoint: String) -> Self {
        Self {
            endpoint,
            failing: false,
            failed_batches: 0,
            failed_spans: 0,
            reports: LogLimit::new(REPORT_EVERY),
            rejected_spans: 0,
            rejections: LogLimit::new(REPORT_EVERY),
        }
    }

    /// Batches and spans lost since the last report, counting afresh.
    fn take_lost(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.failed_batches),
            std::mem::take(&mut self.failed_spans),
        )
    }

    /// A batch was exported.
    pub fn on_success(&mut self) {
        if std::mem::take(&mut self.failing) {
            // Taken outside the macro, which skips its fields when the level is off.
            let (batches, spans) = self.take_lost();
            tracing::info!(
                endpoint = %self.endpoint,
                lost_batches = batches,
                lost_spans = spans,
                "span export works again"
            );
        }
    }

    /// A batch of `spans` spans could not be exported.
    pub fn on_failure(&mut self, error: &dyn fmt::Display, spans: usize) {
        self.failing = true;
        self.failed_batches += 1;
        self.failed_spans += spans as u64;
        if self.reports.pass(false).is_none() {
            return;
        }
        let (batches, spans) = self.take_lost();
        tracing::warn!(
            endpoint = %self.endpoint,
            %error,
            lost_batches = batches,
            lost_spans = spans,
            "span export failing; requests are unaffected, spans are dropped (next report in {}s at most)",
            REPORT_EVERY.as_secs()
        );
    }

    /// The receiver took a batch but rejected some of its spans, or only
    /// sent a warning. Its message is quoted: it comes from another program.
    pub fn on_partial_success(&mut self, partial: &PartialSuccess) {
        self.rejected_spans += partial.rejected_spans;
        if self.rejections.pass(false).is_none() {
            return;
        }
        let rejected = std::mem::take(&mut self.rejected_spans);
        tracing::warn!(
            endpoint = %self.endpoint,
            message = ?partial.message,
            rejected_spans = rejected,
            "the span receiver rejected spans or warned; rejected spans are not retried \
             (otel_sdk_exporter_span_exported_total{{error_type=\"rejected\"}} on /metrics; \
             next report in {}s at most)",
            REPORT_EVERY.as_secs()
        );
    }
}
