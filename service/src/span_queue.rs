//! Accounting of the span export queue: how many finished spans wait for
//! export, how many were exported, and how many were dropped because the
//! queue was full.
//!
//! The SDK's `BatchSpanProcessor` drops a span when its queue is full, and
//! says so only once (and with a total at shutdown); its own drop counter is
//! recorded into the global meter provider, which this service does not
//! install (its metrics have their own provider and registry). So
//! [`QueuedProcessor`], in front of the batch processor, counts the queued
//! spans itself, bounded by the same capacity: it hands a span on only when
//! it could reserve a slot, and [`QueuedExporter`], behind the batch
//! processor, frees the slots when a batch reaches the exporter. The batch
//! processor's own queue never holds more spans than are counted here, so it
//! never drops: every drop happens, and is counted, here. Neither side
//! blocks: a full queue costs a request one failed atomic update.
//!
//! On `/metrics`, with the names of the OpenTelemetry semantic conventions
//! for SDK self-monitoring (`otel.sdk.processor.span.*`):
//!
//! | series | meaning |
//! |---|---|
//! | `otel_sdk_processor_span_processed_total` | spans handed to the exporter |
//! | `otel_sdk_processor_span_processed_total{error_type="queue_full"}` | spans dropped, queue full |
//! | `otel_sdk_processor_span_queue_size` | spans waiting for export |
//! | `otel_sdk_processor_span_queue_capacity` | `OTEL_BSP_MAX_QUEUE_SIZE` |
//!
//! The log gets at most one line per [`REPORT_EVERY`] with the number of
//! spans dropped since the previous line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::metrics::Meter;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::log_limit::LogLimit;

/// Shortest interval between two "spans dropped" log lines.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);
/// How often the reporter looks for unreported drops: the first drop is
/// logged within this delay.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The `otel.component.*` attributes the conventions put on every series.
const COMPONENT_TYPE: &str = "batching_span_processor";
const COMPONENT_NAME: &str = "batching_span_processor/0";

/// Counts of one span queue.
#[derive(Debug)]
pub struct SpanQueue {
    capacity: usize,
    queued: AtomicUsize,
    exported: AtomicU64,
    dropped: AtomicU64,
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
            unreported: AtomicU64::new(0),
            reports: LogLimit::new(REPORT_EVERY),
        }
    }

    /// Takes a slot, or counts a drop when the queue is full.
    fn reserve(&self) -> bool {
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued < self.capacity).then_some(queued + 1)
            })
            .is_ok();
        if !reserved {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.unreported.fetch_add(1, Ordering::Relaxed);
        }
        reserved
    }

    /// `spans` left the queue for the exporter.
    fn handed_on(&self, spans: usize) {
        self.queued.fetch_sub(spans, Ordering::AcqRel);
        self.exported.fetch_add(spans as u64, Ordering::Relaxed);
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
}

impl SpanQueue {
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

    /// Registers the `otel.sdk.processor.span.*` instruments on `meter`,
    /// read from this queue at collection time.
    pub fn register(self: &Arc<Self>, meter: &Meter) {
        let component = || {
            [
                KeyValue::new("otel.component.type", COMPONENT_TYPE),
                KeyValue::new("otel.component.name", COMPONENT_NAME),
            ]
        };
        // The handles only mark the registrations; the callbacks stay
        // registered with the provider.
        let queue = Arc::clone(self);
        let _processed = meter
            .u64_observable_counter("otel.sdk.processor.span.processed")
            .with_unit("{span}")
            .with_description(
                "Spans handed to the exporter; with error.type, spans dropped (queue_full).",
            )
            .with_callback(move |observer| {
                observer.observe(queue.exported(), &component());
                let mut failed = component().to_vec();
                failed.push(KeyValue::new("error.type", "queue_full"));
                observer.observe(queue.dropped(), &failed);
            })
            .build();
        let queue = Arc::clone(self);
        let _size = meter
            .i64_observable_up_down_counter("otel.sdk.processor.span.queue.size")
            .with_unit("{span}")
            .with_description("Spans waiting in the export queue.")
            .with_callback(move |observer| {
                let queued = queue.queued.load(Ordering::Relaxed);
                observer.observe(i64::try_from(queued).unwrap_or(i64::MAX), &component());
            })
            .build();
        let capacity = i64::try_from(self.capacity).unwrap_or(i64::MAX);
        let _capacity = meter
            .i64_observable_up_down_counter("otel.sdk.processor.span.queue.capacity")
            .with_unit("{span}")
            .with_description("Most spans the export queue holds; more are dropped.")
            .with_callback(move |observer| observer.observe(capacity, &component()))
            .build();
    }
}

/// A span processor that hands a span to `P` only if the queue has room.
#[derive(Debug)]
pub struct QueuedProcessor<P> {
    inner: P,
    queue: Arc<SpanQueue>,
}

impl<P> QueuedProcessor<P> {
    /// `inner` must queue at most `queue`'s capacity and export through a
    /// [`QueuedExporter`] of the same `queue`.
    pub fn new(inner: P, queue: Arc<SpanQueue>) -> Self {
        Self { inner, queue }
    }
}

impl<P: SpanProcessor> SpanProcessor for QueuedProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.queue.reserve() {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A span exporter that frees the queue slots of each batch it receives.
#[derive(Debug)]
pub struct QueuedExporter<E> {
    inner: E,
    queue: Arc<SpanQueue>,
}

impl<E> QueuedExporter<E> {
    /// Wraps `inner`; `queue` is the one the [`QueuedProcessor`] fills.
    pub fn new(inner: E, queue: Arc<SpanQueue>) -> Self {
        Self { inner, queue }
    }
}

impl<E: SpanExporter> SpanExporter for QueuedExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.queue.handed_on(batch.len());
        self.inner.export(batch).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
    use std::sync::{Condvar, Mutex};

    /// An exporter that holds every export until the gate opens.
    #[derive(Debug, Clone, Default)]
    struct GatedExporter {
        gate: Arc<(Mutex<bool>, Condvar)>,
        received: Arc<AtomicU64>,
    }

    impl GatedExporter {
        fn open(&self) {
            let (lock, opened) = &*self.gate;
            *lock.lock().expect("gate") = true;
            opened.notify_all();
        }
    }

    impl SpanExporter for GatedExporter {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let (lock, opened) = &*self.gate;
            let mut open = lock.lock().expect("gate");
            while !*open {
                open = opened.wait(open).expect("gate");
            }
            self.received
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    #[test]
    fn every_span_is_either_exported_or_counted_as_dropped() {
        const SPANS: u64 = 200;
        let queue = Arc::new(SpanQueue::new(8));
        let exporter = GatedExporter::default();
        let batches =
            BatchSpanProcessor::builder(QueuedExporter::new(exporter.clone(), Arc::clone(&queue)))
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(8)
                        .with_max_export_batch_size(4)
                        .with_scheduled_delay(Duration::from_secs(3600))
                        .build(),
                )
                .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(QueuedProcessor::new(batches, Arc::clone(&queue)))
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..SPANS {
            drop(tracer.start("span"));
        }
        // At most the queue plus the one batch held at the gate got through.
        assert!(queue.dropped() >= SPANS - 12, "dropped {}", queue.dropped());
        exporter.open();
        provider.force_flush().expect("flush");
        let received = exporter.received.load(Ordering::Relaxed);
        assert_eq!(received, queue.exported(), "the SDK dropped spans itself");
        assert_eq!(received + queue.dropped(), SPANS);
        assert_eq!(queue.queued.load(Ordering::Relaxed), 0);
        provider.shutdown().expect("shutdown");
    }

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
