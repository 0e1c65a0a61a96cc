//! Logging and tracing setup: one `tracing` subscriber with two layers.
//!
//! * The fmt layer writes logs to stdout (text or JSON), filtered by
//!   `--log-filter`. Noisy internals of the OTLP export path (hyper, h2,
//!   tonic, tower, the OTLP crate, the batch processor's per-batch export
//!   error) are muted: [`crate::export::ReportingExporter`] reports export
//!   trouble itself, at a limited rate, and [`crate::span_queue`] counts and
//!   reports the spans a full export queue drops.
//! * The OpenTelemetry layer turns this crate's `tracing` spans (store
//!   access, CPU burn) into OpenTelemetry spans, children of the server span
//!   that [`crate::http_telemetry`] starts with the OpenTelemetry API. All
//!   spans are batched and sent over OTLP gRPC. It only sees spans from this crate, so the exporter's own HTTP/2
//!   client can never produce spans about exporting spans.

use std::io::IsTerminal as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, LevelFilter, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, fmt};

use crate::config::{LogFormat, SamplerKind, ServeConfig, TelemetryMode, TracesExporter};
use crate::export::ReportingExporter;
use crate::span_queue::{self, QueuedExporter, QueuedProcessor, SpanQueue};

/// Targets muted unless the log filter names them: they log per export
/// attempt, which floods the log while the collector is down.
const NOISY_TARGETS: [&str; 6] = [
    "hyper",
    "h2",
    "tonic",
    "tower",
    "opentelemetry_otlp",
    "opentelemetry-otlp",
];

/// The tracer for server spans, set by [`init`] when traces are on.
static SERVER_TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The SDK tracer [`init`] installed for server spans, or `None` when
/// traces are off (or `init` has not run, e.g. in in-process tests).
pub fn server_tracer() -> Option<&'static SdkTracer> {
    SERVER_TRACER.get()
}

/// Errors while installing logging and tracing.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `--log-filter` / `RUST_LOG` is not a valid filter.
    #[error(
        "invalid --log-filter/RUST_LOG {filter:?}: {source} (expected e.g. `info` or `warn,service=debug`)"
    )]
    LogFilter {
        /// The rejected text.
        filter: String,
        /// Why it was rejected.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the tracer provider alive; call [`TelemetryGuard::shutdown`] at exit
/// to export the last spans.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

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

fn log_filter(user: &str) -> Result<EnvFilter, TelemetryError> {
    let mut directives: Vec<String> = NOISY_TARGETS
        .iter()
        .filter(|target| !user.contains(**target))
        .map(|target| format!("{target}=off"))
        .collect();
    directives.push(user.to_owned());
    EnvFilter::builder()
        .parse(directives.join(","))
        .map_err(|source| TelemetryError::LogFilter {
            filter: user.to_owned(),
            source,
        })
}

/// Builds the tracer provider, or `None` when traces are off. A bad
/// endpoint is logged and treated as "traces off": telemetry trouble must
/// never stop the service.
fn tracer_provider(config: &ServeConfig) -> Option<SdkTracerProvider> {
    if config.telemetry != TelemetryMode::Full || config.traces_exporter == TracesExporter::None {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(config.otlp_endpoint.clone())
        .with_timeout(Duration::from_secs(5))
        .build()
    {
        Ok(exporter) => exporter,
        Err(err) => {
            tracing::error!(endpoint = %config.otlp_endpoint, error = %err, "cannot build the OTLP span exporter; traces are off");
            return None;
        }
    };
    let capacity = config.span_queue_size.max(1);
    let queue = Arc::new(SpanQueue::new(capacity));
    let exporter = QueuedExporter::new(
        ReportingExporter::new(exporter, config.otlp_endpoint.clone()),
        Arc::clone(&queue),
    );
    let batches = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(capacity)
                .with_max_export_batch_size(config.span_batch_size.get())
                .with_scheduled_delay(config.span_schedule_delay)
                .build(),
        )
        .build();
    span_queue::install(Arc::clone(&queue));
    span_queue::spawn_reporter(Arc::clone(&queue));
    Some(
        SdkTracerProvider::builder()
            .with_span_processor(QueuedProcessor::new(batches, queue))
            .with_sampler(sampler(config))
            .with_resource(resource(config))
            .build(),
    )
}

/// The log line writer for `format`, on stdout.
fn log_writer(
    format: LogFormat,
) -> Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync> {
    match format {
        // Colours only on a terminal: escape codes in files and container
        // logs are noise.
        LogFormat::Text => fmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    }
}

/// Installs the global subscriber (logs, and traces when enabled) and the
/// W3C trace-context propagator. Call once, inside the tokio runtime (the
/// gRPC channel spawns its connection task there).
pub fn init(config: &ServeConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = log_filter(&config.log_filter)?
        // Reported by ReportingExporter at a limited rate instead.
        .and(filter_fn(|metadata| {
            metadata.name() != "BatchSpanProcessor.ExportError"
        }));
    let fmt_layer = log_writer(config.log_format).with_filter(filter);

    // Logging first, so a failing exporter build below is reported.
    let provider = {
        // Not `SubscriberInitExt::set_default`: that would also claim the
        // `log` bridge, and the real `try_init` below would then fail.
        let _default = tracing::subscriber::set_default(
            tracing_subscriber::registry()
                .with(log_writer(config.log_format).with_filter(log_filter(&config.log_filter)?)),
        );
        tracer_provider(config)
    };
    let otel_layer = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("service"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_level(false)
            .with_target(false)
            // The access-log line would otherwise be copied into every
            // server span as an event (formatted and exported per request).
            .with_filter(
                Targets::new()
                    .with_target("service", Level::DEBUG)
                    .with_target("service::access", LevelFilter::OFF),
            )
    });
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // For code that uses the global OpenTelemetry API (a handler or library
    // you add); the HTTP middleware takes the SDK tracer itself
    // (`server_tracer`).
    if let Some(provider) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()?;
    if let Some(provider) = &provider {
        // Only once the subscriber is in: `try_init` succeeds once per
        // process, so this is the first and only value.
        let _ = SERVER_TRACER.set(provider.tracer("service"));
    }
    if provider.is_some() {
        tracing::info!(endpoint = %config.otlp_endpoint, "exporting traces over OTLP/gRPC");
    } else {
        tracing::info!("traces are off");
    }
    Ok(TelemetryGuard { provider })
}

impl TelemetryGuard {
    /// Exports the spans still queued, waiting at most `timeout`. Runs the
    /// blocking SDK call on the blocking pool: called from an async worker it
    /// can deadlock against the exporter's own tasks.
    pub async fn shutdown(self, timeout: Duration) {
        let Some(provider) = self.provider else {
            return;
        };
        let flush = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout));
        match tokio::time::timeout(timeout + Duration::from_millis(500), flush).await {
            Ok(Ok(Ok(()))) => tracing::info!("spans flushed"),
            Ok(Ok(Err(err))) => {
                tracing::warn!(error = %err, "could not flush every span before exit")
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "span flush task failed"),
            Err(_) => tracing::warn!(?timeout, "span flush timed out; exiting anyway"),
        }
        // The drops since the last rate-limited line, so the log adds up.
        if let Some(queue) = span_queue::installed() {
            queue.report(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResourceAttributes;

    fn service_name(config: &ServeConfig) -> Option<String> {
        resource(config)
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|value| value.to_string())
    }

    #[test]
    fn service_name_precedence() {
        let mut config = ServeConfig::default();
        assert_eq!(service_name(&config).as_deref(), Some("service"));

        config.resource_attributes = Some(ResourceAttributes(vec![
            ("service.name".to_owned(), "from-attributes".to_owned()),
            ("deployment.environment".to_owned(), "dev".to_owned()),
        ]));
        assert_eq!(service_name(&config).as_deref(), Some("from-attributes"));

        config.service_name = Some("from-service-name".to_owned());
        assert_eq!(service_name(&config).as_deref(), Some("from-service-name"));
    }

    #[test]
    fn noisy_targets_are_muted_unless_named() {
        let filter = log_filter("info").expect("valid").to_string();
        assert!(
            filter.contains("h2=off") && filter.contains("tonic=off"),
            "{filter}"
        );
        let filter = log_filter("info,tonic=debug").expect("valid").to_string();
        assert!(!filter.contains("tonic=off"), "{filter}");
        assert!(log_filter("info,=[").is_err());
    }
}
