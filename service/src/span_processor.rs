//! The span processor: each finished span is written as OTLP protobuf by
//! the thread that ends it, into the batch being filled, and one export
//! thread sends the batches to the collector.
//!
//! Why not the SDK's `BatchSpanProcessor` with an exporter behind it: it
//! moves every `SpanData` (a few hundred bytes, and the strings it owns)
//! through a channel to its thread, which encodes the batch and frees the
//! spans there. Memory a request's thread allocated and another thread
//! frees is slow to give back with glibc's allocator, and the copies and
//! cache misses add up: under the benchmark's load, encoding where the span
//! ends costs about 2 µs less per request (docs/performance.md). The bytes
//! are the same ([`crate::otlp::encode`]'s test compares them with the
//! plain conversion); the tests below check what the batch processor
//! promises: batches of at most the batch size, sent when full or after
//! the delay, every span exported or counted as dropped, and everything
//! queued sent by a flush and at shutdown.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use tokio::runtime::Handle;

use crate::export::ExportLog;
use crate::otlp::encode;
use crate::otlp::{Batch, GrpcSpanExporter};
use crate::span_queue::SpanQueue;

/// Longest wait of [`SpanProcessor::force_flush`].
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How spans are batched.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most spans in one export request.
    pub batch_size: usize,
    /// Longest time a span waits for its batch to fill.
    pub delay: Duration,
}

/// Encodes each span as it ends and exports the batches on its own thread.
/// Spans are admitted by the [`SpanQueue`], which counts those it drops.
#[derive(Debug)]
pub struct EncodingProcessor {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the export thread: a batch is full, or a flush was asked.
    work: Condvar,
    /// Wakes those waiting for a flush.
    flushed: Condvar,
    queue: Arc<SpanQueue>,
    batch_size: usize,
}

#[derive(Debug)]
struct State {
    /// Full batches first; the last one may be filling.
    batches: VecDeque<Batch>,
    resource: Resource,
    /// Flushes asked for and done, counted: a flush waits for its number.
    flushes_asked: u64,
    flushes_done: u64,
    stopping: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing in the state is left half-updated by a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the flush numbered `ticket` is done, at most `timeout`.
    fn wait_for_flush(&self, state: MutexGuard<'_, State>, ticket: u64, timeout: Duration) -> bool {
        let (state, _) = self
            .flushed
            .wait_timeout_while(state, timeout, |state| state.flushes_done < ticket)
            .unwrap_or_else(PoisonError::into_inner);
        state.flushes_done >= ticket
    }
}

impl EncodingProcessor {
    /// Starts the export thread, which sends through `exporter` on
    /// `runtime` (where the exporter's connection runs).
    pub fn new(
        exporter: GrpcSpanExporter,
        log: ExportLog,
        queue: Arc<SpanQueue>,
        config: BatchConfig,
        runtime: Handle,
    ) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                batches: VecDeque::new(),
                resource: Resource::builder_empty().build(),
                flushes_asked: 0,
                flushes_done: 0,
                stopping: false,
            }),
            work: Condvar::new(),
            flushed: Condvar::new(),
            batch_size: config.batch_size.clamp(1, queue.capacity()),
            queue,
        });
        let exporting = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("span-export".to_owned())
            .spawn(move || {
                // The exporter's own work must not make spans.
                let _suppressed = Context::enter_telemetry_suppressed_scope();
                let export = |batch: &Batch, resource: &Resource| {
                    let request = batch.request(resource).into();
                    match runtime.block_on(exporter.export(request)) {
                        Ok(()) => log.on_success(),
                        Err(error) => log.on_failure(&error, batch.len()),
                    }
                };
                export_loop(&exporting, config.delay, export);
            });
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(err) => {
                tracing::error!(error = %err, "cannot start the span export thread; spans will be dropped");
                None
            }
        };
        Self {
            shared,
            thread: Mutex::new(thread),
        }
    }
}

/// The export thread: sends each batch as soon as it is full, the one
/// filling once `delay` has passed since the last send, and everything at
/// a flush; returns once the stop's flush is done.
fn export_loop(shared: &Shared, delay: Duration, export: impl Fn(&Batch, &Resource)) {
    let mut due = Instant::now() + delay;
    loop {
        let mut state = shared.lock();
        // Whether to send the batch still filling; the flush to answer.
        let (all, flush) = loop {
            if state.flushes_asked > state.flushes_done {
                break (true, Some(state.flushes_asked));
            }
            let now = Instant::now();
            if now >= due && !state.batches.is_empty() {
                break (true, None);
            }
            if state.full_batches(shared.batch_size) > 0 {
                break (false, None);
            }
            if now >= due {
                due = now + delay;
            }
            state = shared
                .work
                .wait_timeout(state, due - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        let batches = if all {
            std::mem::take(&mut state.batches)
        } else {
            let full = state.full_batches(shared.batch_size);
            state.batches.drain(..full).collect()
        };
        let resource = state.resource.clone();
        drop(state);

        for batch in &batches {
            shared.queue.handed_on(batch.len());
            export(batch, &resource);
        }
        if all {
            due = Instant::now() + delay;
        }
        if let Some(ticket) = flush {
            let mut state = shared.lock();
            state.flushes_done = ticket;
            let stop = state.stopping;
            drop(state);
            shared.flushed.notify_all();
            if stop {
                return;
            }
        }
    }
}

impl State {
    /// How many batches at the front are full.
    fn full_batches(&self, batch_size: usize) -> usize {
        self.batches
            .iter()
            .take_while(|batch| batch.len() >= batch_size)
            .count()
    }
}

impl SpanProcessor for EncodingProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !self.shared.queue.reserve() {
            return;
        }
        let bytes = encode::span(&span);
        let mut state = self.shared.lock();
        let batch = match state.batches.back_mut() {
            Some(batch) if batch.len() < self.shared.batch_size => batch,
            _ => {
                state.batches.push_back(Batch::default());
                state.batches.back_mut().expect("a batch was just pushed")
            }
        };
        batch.push(&span.instrumentation_scope, &bytes);
        let full = batch.len() == self.shared.batch_size;
        drop(state);
        if full {
            self.shared.work.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut state = self.shared.lock();
        if state.stopping {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.flushes_asked += 1;
        let ticket = state.flushes_asked;
        self.shared.work.notify_one();
        if self.shared.wait_for_flush(state, ticket, FLUSH_TIMEOUT) {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(FLUSH_TIMEOUT))
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut state = self.shared.lock();
        if state.stopping {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.stopping = true;
        state.flushes_asked += 1;
        let ticket = state.flushes_asked;
        self.shared.work.notify_one();
        if !self.shared.wait_for_flush(state, ticket, timeout) {
            // The thread finishes its export on its own; nobody waits.
            return Err(OTelSdkError::Timeout(timeout));
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match thread.map(JoinHandle::join) {
            Some(Err(_)) => Err(OTelSdkError::InternalFailure(
                "the span export thread panicked".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.lock().resource = resource.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use test_support::OtlpReceiver;
    use tokio::runtime::Runtime;

    /// A real receiver, and a provider exporting to it through the
    /// processor on a runtime the test thread does not block.
    struct Pipeline {
        provider: SdkTracerProvider,
        queue: Arc<SpanQueue>,
        receiver: OtlpReceiver,
        /// Runs the receiver and the exporter's connection; dropped last.
        _runtime: Runtime,
    }

    impl Pipeline {
        fn new(receiver_delay: Duration, capacity: usize, config: BatchConfig) -> Self {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let receiver = runtime.block_on(OtlpReceiver::start_with_delay(receiver_delay));
            let _entered = runtime.enter();
            let exporter = GrpcSpanExporter::new(&receiver.endpoint(), Duration::from_secs(5))
                .expect("exporter");
            let queue = Arc::new(SpanQueue::new(capacity));
            let processor = EncodingProcessor::new(
                exporter,
                ExportLog::new(receiver.endpoint()),
                Arc::clone(&queue),
                config,
                runtime.handle().clone(),
            );
            let provider = SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(Resource::builder_empty().with_service_name("svc").build())
                .build();
            Self {
                provider,
                queue,
                receiver,
                _runtime: runtime,
            }
        }

        fn end_spans(&self, count: usize) {
            let tracer = self.provider.tracer("test");
            for n in 0..count {
                drop(tracer.start(format!("span {n}")));
            }
        }

        /// Spans per export request received so far.
        fn requests(&self) -> Vec<usize> {
            let requests = self.receiver.requests.lock().expect("receiver");
            requests
                .iter()
                .map(|request| {
                    let spans = request.resource_spans.iter().flat_map(|r| &r.scope_spans);
                    spans.map(|scope| scope.spans.len()).sum()
                })
                .collect()
        }

        /// Waits, at most 10 s, until `spans` spans were received.
        fn wait_for_spans(&self, spans: usize) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.receiver.spans().len() < spans && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    impl Drop for Pipeline {
        fn drop(&mut self) {
            // Before the runtime goes: the export thread sends on it.
            let _ = self.provider.shutdown();
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn full_batches_leave_at_once_and_a_flush_sends_the_rest() {
        let config = BatchConfig {
            batch_size: 4,
            delay: HOUR,
        };
        let pipeline = Pipeline::new(Duration::ZERO, 64, config);
        pipeline.end_spans(10);
        pipeline.wait_for_spans(8);
        assert_eq!(pipeline.requests(), [4, 4], "only full batches, at once");

        pipeline.provider.force_flush().expect("flush");
        assert_eq!(pipeline.requests(), [4, 4, 2]);
        let spans = pipeline.receiver.spans();
        let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
        let expected: Vec<String> = (0..10).map(|n| format!("span {n}")).collect();
        assert_eq!(names, expected);
        assert!(
            spans
                .iter()
                .all(|span| span.resource["service.name"] == "svc")
        );
        assert_eq!(pipeline.queue.exported(), 10);
    }

    #[test]
    fn a_batch_that_does_not_fill_leaves_after_the_delay() {
        let config = BatchConfig {
            batch_size: 100,
            delay: Duration::from_millis(100),
        };
        let pipeline = Pipeline::new(Duration::ZERO, 1000, config);
        pipeline.end_spans(3);
        pipeline.wait_for_spans(3);
        assert_eq!(pipeline.requests(), [3], "sent without a flush");
    }

    #[test]
    fn every_span_is_exported_or_counted_as_dropped_and_shutdown_sends_the_queue() {
        const SPANS: u64 = 200;
        let config = BatchConfig {
            batch_size: 4,
            delay: HOUR,
        };
        // The receiver takes 300 ms per export: the queue of 8 fills up.
        let pipeline = Pipeline::new(Duration::from_millis(300), 8, config);
        pipeline.end_spans(SPANS as usize);
        let dropped = pipeline.queue.dropped();
        // At most the queue, and the batch being exported, got through.
        assert!(dropped >= SPANS - 12, "dropped {dropped}");

        pipeline
            .provider
            .shutdown()
            .expect("shutdown sends the queue");
        let received = pipeline.receiver.spans().len() as u64;
        assert_eq!(received, pipeline.queue.exported());
        assert_eq!(received + dropped, SPANS);
    }
}
