//! The span processor: each finished span is written as OTLP protobuf by
//! the thread that ends it, into the batch being filled, and one export
//! thread sends the batches to the collector (`span_processor/export_thread.rs`).
//!
//! Why not the SDK's `BatchSpanProcessor` with an exporter behind it: it
//! moves every `SpanData` (a few hundred bytes, and the strings it owns)
//! through a channel to its thread, which encodes the batch and frees the
//! spans there. Memory a request's thread allocated and another thread
//! frees is slow to give back with glibc's allocator, and the copies and
//! cache misses add up: under the benchmark's load, encoding where the span
//! ends costs 0.6 to 0.9 µs less per request (docs/performance.md). The
//! bytes are the same ([`crate::otlp::encode`]'s test compares them with
//! the plain conversion); the tests below check what the batch processor
//! promises: batches of at most the batch size, sent when full or after
//! the delay, every span exported or counted as dropped, everything queued
//! sent by a flush and at shutdown, and a flush that says when spans were
//! lost.

mod export_thread;

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use tokio::runtime::Handle;

use crate::export::ExportLog;
use crate::otlp::{Batch, GrpcSpanExporter, encode};
use crate::span_queue::SpanQueue;
use export_thread::Shared;

/// The `error.type` the semantic conventions give spans a receiver rejected
/// through OTLP's partial success.
const REJECTED: &str = "rejected";

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
    queue: Arc<SpanQueue>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl EncodingProcessor {
    /// Starts the export thread, which sends through `exporter` on
    /// `runtime` (where the exporter's connection runs).
    pub fn new(
        exporter: GrpcSpanExporter,
        mut log: ExportLog,
        queue: Arc<SpanQueue>,
        config: BatchConfig,
        runtime: Handle,
    ) -> Self {
        let shared = Arc::new(Shared::new(Arc::clone(&queue), config.batch_size));
        let counts = Arc::clone(&queue);
        let export = move |batch: &Batch, resource: &Resource| {
            let result = exporter.export(&runtime, batch.request(resource).into());
            match result {
                Ok(partial) => {
                    log.on_success();
                    let rejected = partial.as_ref().map_or(0, |partial| {
                        log.on_partial_success(partial);
                        usize::try_from(partial.rejected_spans)
                            .map_or(batch.len(), |n| n.min(batch.len()))
                    });
                    counts.export_done(batch.len() - rejected, Ok(()));
                    counts.export_done(rejected, Err(REJECTED));
                    Ok(())
                }
                Err(error) => {
                    log.on_failure(&error, batch.len());
                    counts.export_done(batch.len(), Err(error.kind));
                    Err(error.message)
                }
            }
        };
        let thread = match export_thread::spawn(Arc::clone(&shared), config.delay, export) {
            Ok(thread) => Some(thread),
            Err(err) => {
                tracing::error!(error = %err, "cannot start the span export thread; spans will be dropped");
                shared.close();
                None
            }
        };
        Self {
            queue,
            shared,
            thread: Mutex::new(thread),
        }
    }
}

impl SpanProcessor for EncodingProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // A sampler may record a span without sampling it (`RecordOnly`):
        // such a span is for processors in the process, not for export.
        if !span.span_context.is_sampled() {
            return;
        }
        if self.queue.reserve() {
            self.shared
                .push(&span.instrumentation_scope, &encode::span(&span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.shared.flush(false, FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.shared.flush(true, timeout)?;
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // The thread has done its last flush; it only has to return.
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            return Err(OTelSdkError::InternalFailure(
                "the span export thread panicked".to_owned(),
            ));
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.set_resource(resource);
    }
}

impl Drop for EncodingProcessor {
    /// A processor dropped without a shutdown still sends what it holds,
    /// and its thread ends.
    fn drop(&mut self) {
        self.shared.stop_soon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Link, SpanKind, TraceId, Tracer as _, TracerProvider as _};
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::trace::{
        Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
    };
    use std::time::Instant;
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
            Self::exporting_to(None, receiver_delay, capacity, config, Sampler::AlwaysOn)
        }

        /// Samples with `sampler` instead of always.
        fn sampled_by(sampler: impl ShouldSample + 'static, config: BatchConfig) -> Self {
            Self::exporting_to(None, Duration::ZERO, 64, config, sampler)
        }

        /// Exports to `endpoint` instead of the receiver, when given.
        fn exporting_to(
            endpoint: Option<String>,
            receiver_delay: Duration,
            capacity: usize,
            config: BatchConfig,
            sampler: impl ShouldSample + 'static,
        ) -> Self {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let receiver = runtime.block_on(OtlpReceiver::start_with_delay(receiver_delay));
            let endpoint = endpoint.unwrap_or_else(|| receiver.endpoint());
            let _entered = runtime.enter();
            let exporter =
                GrpcSpanExporter::new(&endpoint, Duration::from_secs(5)).expect("exporter");
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
                .with_sampler(sampler)
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
            while self.receiver.spans().len() < spans {
                assert!(
                    Instant::now() < deadline,
                    "received {:?} spans per request, waiting for {spans} spans",
                    self.requests()
                );
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

    fn batches_of(batch_size: usize, delay: Duration) -> BatchConfig {
        BatchConfig { batch_size, delay }
    }

    #[test]
    fn full_batches_leave_at_once_and_a_flush_sends_the_rest() {
        let config = batches_of(4, HOUR);
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
        assert_eq!(pipeline.queue.queued(), 0);
        assert_eq!(pipeline.queue.sent(), 10, "all accepted by the receiver");
        assert!(pipeline.queue.not_sent_by_kind().is_empty());
    }

    /// Records the spans named "recorded only" without sampling them.
    #[derive(Debug, Clone)]
    struct RecordOnlySome;

    impl ShouldSample for RecordOnlySome {
        fn should_sample(
            &self,
            _parent: Option<&Context>,
            _trace_id: TraceId,
            name: &str,
            _kind: &SpanKind,
            _attributes: &[KeyValue],
            _links: &[Link],
        ) -> SamplingResult {
            SamplingResult {
                decision: if name == "recorded only" {
                    SamplingDecision::RecordOnly
                } else {
                    SamplingDecision::RecordAndSample
                },
                attributes: Vec::new(),
                trace_state: Default::default(),
            }
        }
    }

    #[test]
    fn spans_recorded_but_not_sampled_are_not_exported() {
        let pipeline = Pipeline::sampled_by(RecordOnlySome, batches_of(4, HOUR));
        let tracer = pipeline.provider.tracer("test");
        drop(tracer.start("recorded only"));
        drop(tracer.start("sampled"));
        pipeline.provider.force_flush().expect("flush");
        let names: Vec<String> = pipeline
            .receiver
            .spans()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["sampled"]);
        assert_eq!(pipeline.queue.exported(), 1);
    }

    #[test]
    fn shutdown_sends_the_batch_still_filling() {
        let config = batches_of(4, HOUR);
        let pipeline = Pipeline::new(Duration::ZERO, 64, config);
        pipeline.end_spans(3);
        pipeline.provider.shutdown().expect("shutdown");
        assert_eq!(pipeline.requests(), [3]);
        assert_eq!(pipeline.queue.queued(), 0);
    }

    #[test]
    fn a_flush_fails_when_spans_could_not_be_exported() {
        let config = batches_of(100, HOUR);
        // A port nothing listens on: every attempt is refused.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", closed.local_addr().expect("address"));
        drop(closed);
        let pipeline = Pipeline::exporting_to(
            Some(endpoint),
            Duration::ZERO,
            64,
            config,
            Sampler::AlwaysOn,
        );
        pipeline.end_spans(3);
        let error = pipeline
            .provider
            .force_flush()
            .expect_err("nothing was exported");
        assert!(error.to_string().contains("3 spans"), "{error}");
        assert_eq!(pipeline.queue.sent(), 0);
        assert_eq!(
            pipeline.queue.not_sent_by_kind(),
            [("unavailable", 3)].into_iter().collect()
        );
    }

    #[test]
    fn a_batch_that_does_not_fill_leaves_after_the_delay() {
        let config = batches_of(100, Duration::from_millis(100));
        let pipeline = Pipeline::new(Duration::ZERO, 1000, config);
        pipeline.end_spans(3);
        pipeline.wait_for_spans(3);
        // One request, or two if the delay passed between the spans.
        assert_eq!(pipeline.requests().iter().sum::<usize>(), 3);
    }

    #[test]
    fn every_span_is_exported_or_counted_as_dropped_and_shutdown_sends_the_queue() {
        const SPANS: u64 = 200;
        let config = batches_of(4, HOUR);
        // The receiver takes 1 s per export: the queue of 8 fills up.
        let pipeline = Pipeline::new(Duration::from_secs(1), 8, config);
        pipeline.end_spans(SPANS as usize);
        let dropped = pipeline.queue.dropped();
        // At most the queue, and the batch being exported, got through.
        assert!(dropped >= SPANS - 12, "dropped {dropped}");

        pipeline
            .provider
            .shutdown_with_timeout(Duration::from_secs(20))
            .expect("shutdown sends the queue");
        let received = pipeline.receiver.spans().len() as u64;
        assert_eq!(received, pipeline.queue.exported());
        assert_eq!(received + dropped, SPANS);
        assert_eq!(pipeline.queue.queued(), 0);
    }
}
