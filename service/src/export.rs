//! Export trouble, logged at a limited rate.
//!
//! With the collector down, every batch fails. [`ExportLog`] logs the first
//! failure at once, then at most one summary per [`REPORT_EVERY`] (how many
//! batches and spans were lost meanwhile), and one line when exports work
//! again. Requests never wait for any of this: it runs on the span
//! processor's export thread.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::log_limit::LogLimit;

/// Shortest interval between two "export failing" log lines.
pub const REPORT_EVERY: Duration = Duration::from_secs(30);

/// The export outcomes of one endpoint, logged at a limited rate.
pub struct ExportLog {
    endpoint: String,
    failing: AtomicBool,
    failed_batches: AtomicU64,
    failed_spans: AtomicU64,
    reports: LogLimit,
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
            failing: AtomicBool::new(false),
            failed_batches: AtomicU64::new(0),
            failed_spans: AtomicU64::new(0),
            reports: LogLimit::new(REPORT_EVERY),
        }
    }

    /// A batch was exported.
    pub fn on_success(&self) {
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

    /// A batch of `spans` spans could not be exported.
    pub fn on_failure(&self, error: &dyn fmt::Display, spans: usize) {
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
