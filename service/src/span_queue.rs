//! Accounting of the span export queue: how many finished spans wait for
//! export, how many were exported, and how many were dropped because the
//! queue was full.
//!
//! The span processor takes a span only when it could reserve a slot here,
//! and frees the slots when a batch leaves for the exporter; every drop
//! happens, and is counted, here. Nothing blocks: a full queue costs a
//! request one failed atomic update.
//!
//! On `/metrics`, with the names of the OpenTelemetry semantic conventions
//! for SDK self-monitoring (`otel.sdk.processor.span.*`):
//!
//! | series | meaning |
//! |---|---|
//! | `otel_sdk_processor_span_processed_total` | spans handed to the exporter |
//! | `otel_sdk_processor_span_processed_total{error_type="queue_full"}` | spans dropped, queue full |
//! | `otel_sdk_processor_span_processed_total{error_type="shutdown"}` | spans dropped because the export thread had ended (at exit, or after it failed) |
//! | `otel_sdk_processor_span_queue_size` | spans waiting for export |
//! | `otel_sdk_processor_span_queue_capacity` | `OTEL_BSP_MAX_QUEUE_SIZE` |
//! | `otel_sdk_exporter_span_exported_total` | spans the receiver accepted |
//! | `otel_sdk_exporter_span_exported_total{error_type="unavailable"}` | spans lost: the receiver could not be reached |
//! | `otel_sdk_exporter_span_exported_total{error_type="timeout"}` | spans lost: the receiver did not answer in time |
//! | `otel_sdk_exporter_span_exported_total{error_type="rejected"}` | spans the receiver took but rejected (OTLP partial success) |
//! | `otel_sdk_exporter_span_exported_total{error_type="_OTHER"}` | spans lost to any other error |
//!
//! The log gets at most one line per [`REPORT_EVERY`] with the number of
//! spans dropped since the previous line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::log_limit::LogLimit;

mod instruments;

/// Shortest interval between two "spans dropped" log lines.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);
/// How often the reporter looks for unreported drops: the first drop is
/// logged within this delay.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Counts of one span queue.
#[derive(Debug)]
pub struct SpanQueue {
    capacity: usize,
    queued: AtomicUsize,
    exported: AtomicU64,
    dropped: AtomicU64,
    /// Dropped because the export thread had ended: not the queue's size
    /// to blame, so not in the "spans dropped" lines.
    discarded: AtomicU64,
    /// Of the spans handed to the exporter, those the receiver accepted.
    sent: AtomicU64,
    /// And those it could not send or the receiver rejected, by
    /// `error.type` (a closed set: [`crate::otlp::ExportError`]'s kinds and
    /// `rejected`).
    not_sent: Mutex<BTreeMap<&'static str, u64>>,
    /// Drops not yet in a log line.
    unreported: AtomicU64,
    reports: LogLimit,
}

impl SpanQueue {
    /// An empty queue holding at most `capacity` spans.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            queued: AtomicUsize::new(0),
            exported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            not_sent: Mutex::default(),
            unreported: AtomicU64::new(0),
            reports: LogLimit::new(REPORT_EVERY),
        }
    }

    /// Most spans the queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes a slot, or counts a drop when the queue is full.
    pub fn reserve(&self) -> bool {
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued < self.capacity).then_some(queued + 1)
            })
            .is_ok();
        if !reserved {
            self.count_drops(1);
        }
        reserved
    }

    /// `spans` left the queue for the exporter.
    pub fn handed_on(&self, spans: usize) {
        self.queued.fetch_sub(spans, Ordering::AcqRel);
        self.exported.fetch_add(spans as u64, Ordering::Relaxed);
    }

    /// The exporter sent `spans`, or failed to for reason `Err(kind)`.
    pub fn export_done(&self, spans: usize, result: Result<(), &'static str>) {
        if spans == 0 {
            return;
        }
        match result {
            Ok(()) => {
                self.sent.fetch_add(spans as u64, Ordering::Relaxed);
            }
            Err(kind) => {
                let mut not_sent = self.not_sent.lock().unwrap_or_else(PoisonError::into_inner);
                *not_sent.entry(kind).or_default() += spans as u64;
            }
        }
    }

    /// Spans the receiver accepted so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Spans the exporter could not send, by reason.
    pub fn not_sent_by_kind(&self) -> BTreeMap<&'static str, u64> {
        self.not_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `spans` that had a slot are dropped after all: the export thread
    /// has ended.
    pub fn discard(&self, spans: usize) {
        if spans == 0 {
            return;
        }
        self.queued.fetch_sub(spans, Ordering::AcqRel);
        self.discarded.fetch_add(spans as u64, Ordering::Relaxed);
    }

    /// Spans dropped because the export thread had ended.
    pub fn discarded(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    fn count_drops(&self, spans: u64) {
        self.dropped.fetch_add(spans, Ordering::Relaxed);
        self.unreported.fetch_add(spans, Ordering::Relaxed);
    }

    /// Spans waiting for export.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Spans dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Spans handed to the exporter so far.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Logs the drops since the last line, unless a line was written less
    /// than [`REPORT_EVERY`] ago (`force` skips that check, for shutdown).
    pub fn report(&self, force: bool) {
        if self.unreported.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(pass) = self.reports.pass(force) else {
            return;
        };
        let dropped = self.unreported.swap(0, Ordering::AcqRel);
        let since = pass.since_last.map_or_else(
            || "since start".to_owned(),
            |d| format!("in the last {}s", d.as_secs()),
        );
        tracing::warn!(
            dropped_spans = dropped,
            total_dropped_spans = self.dropped(),
            queue_capacity = self.capacity,
            "{dropped} spans dropped {since}: the span export queue was full; requests are \
             unaffected (a larger OTEL_BSP_MAX_QUEUE_SIZE absorbs longer bursts; the total is \
             otel_sdk_processor_span_processed_total{{error_type=\"queue_full\"}} on /metrics; \
             at most one such line per {}s)",
            REPORT_EVERY.as_secs()
        );
    }

    /// At exit: how many spans the exporter could not deliver in this run,
    /// and how many ended too late to be exported, if any. Here rather than
    /// on the export thread, which an exit does not wait for when the
    /// receiver hangs.
    pub fn report_not_sent(&self) {
        let discarded = self.discarded();
        if discarded > 0 {
            tracing::warn!(
                discarded_spans_total = discarded,
                "{discarded} spans ended after the span export thread had stopped and were dropped \
                 (otel_sdk_processor_span_processed_total{{error_type=\"shutdown\"}} on /metrics)"
            );
        }
        let not_sent = self.not_sent_by_kind();
        let total: u64 = not_sent.values().sum();
        if total == 0 {
            return;
        }
        let by_reason: Vec<String> = not_sent
            .iter()
            .map(|(kind, spans)| format!("{kind}: {spans}"))
            .collect();
        tracing::warn!(
            lost_spans_total = total,
            "{total} spans could not be delivered to the trace receiver in this run ({}; \
             otel_sdk_exporter_span_exported_total{{error_type}} on /metrics)",
            by_reason.join(", ")
        );
    }

    /// Logs drops from a task of the current tokio runtime, so that no line
    /// is written from inside the span pipeline (a `tracing` event emitted
    /// while a `tracing` span closes would re-enter the subscriber).
    pub fn spawn_reporter(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            loop {
                tick.tick().await;
                self.report(false);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn reports_are_rate_limited_and_carry_the_count_since_the_last() {
        let queue = SpanQueue::new(1);
        assert!(queue.reserve());
        assert!(!queue.reserve() && !queue.reserve());
        queue.report(false);
        assert_eq!(
            queue.unreported.load(Ordering::Relaxed),
            0,
            "first report at once"
        );
        assert!(!queue.reserve());
        queue.report(false);
        assert_eq!(
            queue.unreported.load(Ordering::Relaxed),
            1,
            "a second line within REPORT_EVERY waits"
        );
        queue.report(true);
        assert_eq!(queue.unreported.load(Ordering::Relaxed), 0);
        assert_eq!(queue.dropped(), 3);
    }
}
