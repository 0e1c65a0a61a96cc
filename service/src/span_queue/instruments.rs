//! The `otel.sdk.processor.span.*` and `otel.sdk.exporter.span.*`
//! instruments, read from the span queue's counts at collection time.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

use super::SpanQueue;

/// The `otel.component.*` attributes the conventions put on every series.
const COMPONENT_TYPE: &str = "batching_span_processor";
const COMPONENT_NAME: &str = "batching_span_processor/0";
const EXPORTER_TYPE: &str = "otlp_grpc_span_exporter";
const EXPORTER_NAME: &str = "otlp_grpc_span_exporter/0";

impl SpanQueue {
    /// Registers the `otel.sdk.processor.span.*` instruments on `meter`,
    /// read from this queue at collection time.
    pub fn register(self: &Arc<Self>, meter: &Meter) {
        let processor = || component(COMPONENT_TYPE, COMPONENT_NAME);
        // The handles only mark the registrations; the callbacks stay
        // registered with the provider.
        let queue = Arc::clone(self);
        let _processed = meter
            .u64_observable_counter("otel.sdk.processor.span.processed")
            .with_unit("{span}")
            .with_description(
                "Spans handed to the exporter; with error.type, spans dropped (queue_full, shutdown).",
            )
            .with_callback(move |observer| {
                observer.observe(queue.exported(), &processor());
                observer.observe(queue.dropped(), &failed(processor(), "queue_full"));
                observer.observe(queue.discarded(), &failed(processor(), "shutdown"));
            })
            .build();
        let queue = Arc::clone(self);
        let _size = meter
            .i64_observable_up_down_counter("otel.sdk.processor.span.queue.size")
            .with_unit("{span}")
            .with_description("Spans waiting in the export queue.")
            .with_callback(move |observer| {
                let queued = i64::try_from(queue.queued()).unwrap_or(i64::MAX);
                observer.observe(queued, &processor());
            })
            .build();
        let queue = Arc::clone(self);
        let _exported = meter
            .u64_observable_counter("otel.sdk.exporter.span.exported")
            .with_unit("{span}")
            .with_description(
                "Spans the receiver accepted; with error.type, spans the exporter could not send.",
            )
            .with_callback(move |observer| {
                let exporter = component(EXPORTER_TYPE, EXPORTER_NAME);
                observer.observe(queue.sent(), &exporter);
                for (kind, spans) in queue.not_sent_by_kind() {
                    observer.observe(spans, &failed(exporter.clone(), kind));
                }
            })
            .build();
        let capacity = i64::try_from(self.capacity).unwrap_or(i64::MAX);
        let _capacity = meter
            .i64_observable_up_down_counter("otel.sdk.processor.span.queue.capacity")
            .with_unit("{span}")
            .with_description("Most spans the export queue holds; more are dropped.")
            .with_callback(move |observer| observer.observe(capacity, &processor()))
            .build();
    }
}

/// The `otel.component.*` attributes of one component.
fn component(kind: &'static str, name: &'static str) -> [KeyValue; 2] {
    [
        KeyValue::new("otel.component.type", kind),
        KeyValue::new("otel.component.name", name),
    ]
}

/// A component's attributes with the `error.type` of what failed.
fn failed(component: [KeyValue; 2], error_type: &'static str) -> [KeyValue; 3] {
    let [kind, name] = component;
    [kind, name, KeyValue::new("error.type", error_type)]
}
