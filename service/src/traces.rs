//! The span pipeline: sampler, the counted span queue, the processor that
//! encodes and batches the spans, the OTLP exporter, and the tracer
//! provider.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

use crate::config::{SamplerKind, ServeConfig, TelemetryMode, TracesExporter};
use crate::export::ExportLog;
use crate::otlp::GrpcSpanExporter;
use crate::span_processor::{BatchConfig, EncodingProcessor};
use crate::span_queue::SpanQueue;

/// Longest wait for the receiver's answer to one export.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The OpenTelemetry resource: `service.name` (`service` unless
/// `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` says otherwise),
/// `service.version`, the SDK's `telemetry.sdk.*` and
/// `OTEL_RESOURCE_ATTRIBUTES`.
pub fn resource(config: &ServeConfig) -> Resource {
    let mut builder = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes([
            KeyValue::new("service.name", "service"),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ]);
    if let Some(attributes) = &config.resource_attributes {
        builder = builder.with_attributes(
            attributes
                .0
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        );
    }
    if let Some(name) = &config.service_name {
        builder = builder.with_service_name(name.clone());
    }
    builder.build()
}

fn sampler(config: &ServeConfig) -> Sampler {
    let ratio = config.traces_sampler_arg.unwrap_or(1.0);
    match config.traces_sampler {
        SamplerKind::AlwaysOn => Sampler::AlwaysOn,
        SamplerKind::AlwaysOff => Sampler::AlwaysOff,
        SamplerKind::Traceidratio => Sampler::TraceIdRatioBased(ratio),
        SamplerKind::ParentbasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerKind::ParentbasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerKind::ParentbasedTraceidratio => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// Builds the tracer provider and its span queue, or `None` when traces are
/// off. A bad endpoint is logged and treated as "traces off": telemetry
/// trouble must never stop the service.
pub fn tracer_provider(config: &ServeConfig) -> Option<(SdkTracerProvider, Arc<SpanQueue>)> {
    if config.telemetry != TelemetryMode::Full || config.traces_exporter == TracesExporter::None {
        return None;
    }
    let exporter = match GrpcSpanExporter::new(&config.otlp_endpoint, EXPORT_TIMEOUT) {
        Ok(exporter) => exporter,
        Err(err) => {
            tracing::error!(endpoint = %config.otlp_endpoint, error = %err, "cannot build the OTLP span exporter; traces are off");
            return None;
        }
    };
    let queue = Arc::new(SpanQueue::new(config.span_queue_size.max(1)));
    if config.span_batch_size > queue.capacity() {
        tracing::warn!(
            batch_size = config.span_batch_size,
            queue_size = queue.capacity(),
            "the span batch size is larger than the span queue: batches hold at most the queue's \
             {} spans (raise --span-queue-size / OTEL_BSP_MAX_QUEUE_SIZE, or lower the batch size)",
            queue.capacity()
        );
    }
    let processor = EncodingProcessor::new(
        exporter,
        ExportLog::new(config.otlp_endpoint.clone()),
        Arc::clone(&queue),
        BatchConfig {
            batch_size: config.span_batch_size,
            delay: config.span_schedule_delay,
        },
        tokio::runtime::Handle::current(),
    );
    Arc::clone(&queue).spawn_reporter();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler(config))
        .with_resource(resource(config))
        .build();
    Some((provider, queue))
}
