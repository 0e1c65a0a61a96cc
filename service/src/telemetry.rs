//! Logging and tracing setup: one `tracing` subscriber with two layers.
//!
//! * The fmt layer formats logs (text or JSON), filtered by `--log-filter`,
//!   and hands each line to a writer thread that writes them to stdout in
//!   batches ([`crate::log_writer`]): a request never waits for stdout.
//!   When the thread falls behind, new lines are dropped and counted
//!   (`service_log_lines_dropped_total`).
//!   Noisy internals of the OTLP export path (hyper, h2, tonic, tower) are
//!   muted: [`crate::export::ExportLog`] reports export trouble
//!   itself, at a limited rate, and [`crate::span_queue`] counts and
//!   reports the spans a full export queue drops.
//! * The OpenTelemetry layer turns this crate's `tracing` spans (store
//!   access, CPU burn) into OpenTelemetry spans, children of the server span
//!   that [`crate::middleware::trace`] starts with the OpenTelemetry API.
//!   All spans are batched and sent over OTLP gRPC. It only sees spans from
//!   this crate, so the exporter's own HTTP/2 client can never produce spans
//!   about exporting spans.
//!
//! [`init`] returns a [`TelemetryGuard`] (it flushes at shutdown) holding
//! what the app needs ([`Telemetry`]: the tracer, the span queue, the log
//! writer and the access log); nothing is read back from a global.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, fmt};

use crate::config::{LogFormat, ServeConfig, Switch};
use crate::log_writer::{self, LogWriter, LogWriterGuard};
use crate::middleware::access_log::AccessLogWriter;
use crate::span_queue::SpanQueue;
use crate::traces;

/// The instrumentation scope of this crate's spans (the package's name, so
/// a copy of this code in another crate names itself).
const SCOPE: &str = env!("CARGO_PKG_NAME");

/// Targets muted unless the log filter names them: they log per export
/// attempt, which floods the log while the collector is down. (A filter's
/// target matches by prefix, so `tower` covers `tower_http`; a directive
/// for a longer target, such as `tower_http=debug`, still wins.)
const NOISY_TARGETS: [&str; 4] = ["hyper", "h2", "tonic", "tower"];

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
    /// The log's writer thread could not start.
    #[error(
        "cannot start the log writer thread: {0} (the process may be out of threads or memory; see `ulimit -u`)"
    )]
    LogWriter(#[source] std::io::Error),
    /// A global subscriber was already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// What the app records into, from [`init`]. The default (nothing) is
/// what in-process tests without a subscriber use: metrics only.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    /// The tracer for server spans; `None` when traces are off.
    pub tracer: Option<Arc<SdkTracer>>,
    /// The span export queue, whose counts `/metrics` shows.
    pub span_queue: Option<Arc<SpanQueue>>,
    /// The log's writer, whose drop count `/metrics` shows.
    pub log_writer: Option<LogWriter>,
    /// Where access log lines go; `None` when the access log is off.
    pub access_log: Option<AccessLogWriter>,
}

/// Keeps the pipelines alive; call [`TelemetryGuard::shutdown`] at exit to
/// export the last spans and write the last log lines.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    telemetry: Telemetry,
    log_writer: LogWriterGuard,
}

fn log_filter(user: &str) -> Result<EnvFilter, TelemetryError> {
    let named = |target: &str| {
        user.split(',')
            .any(|directive| directive.split(['=', '[']).next().map(str::trim) == Some(target))
    };
    let mut directives: Vec<String> = NOISY_TARGETS
        .iter()
        .filter(|target| !named(target))
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

/// The fmt layer for `format`, writing through `writer`.
fn log_layer<S>(
    format: LogFormat,
    writer: LogWriter,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    match format {
        // Colours only on a terminal: escape codes in files and container
        // logs are noise.
        LogFormat::Text => fmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    }
}

/// Installs the global subscriber (logs, and traces when enabled) and the
/// W3C trace-context propagator. Call once, inside the tokio runtime (the
/// gRPC channel spawns its connection task there).
pub fn init(config: &ServeConfig) -> Result<TelemetryGuard, TelemetryError> {
    let (writer, log_writer) = LogWriter::new(
        std::io::stdout(),
        log_writer::CAPACITY,
        log_writer::FLUSH_EVERY,
    )
    .map_err(TelemetryError::LogWriter)?;
    let filter = log_filter(&config.log_filter)?;

    // Logging first, so a failing exporter build below is reported.
    let (traces, access_log_enabled) = {
        // Not `SubscriberInitExt::set_default`: that would also claim the
        // `log` bridge, and the real `try_init` below would then fail.
        let _default = tracing::subscriber::set_default(
            tracing_subscriber::registry().with(
                log_layer(config.log_format, writer.clone())
                    .with_filter(log_filter(&config.log_filter)?),
            ),
        );
        // The access log writes its lines itself, but obeys the log filter.
        // Asked here, where the log is the only layer: `enabled!` is true
        // when any layer wants the event, and the OpenTelemetry layer
        // below takes everything of this crate.
        let access_log_enabled = tracing::enabled!(target: "service::access", Level::INFO);
        (traces::tracer_provider(config), access_log_enabled)
    };
    let provider = traces.as_ref().map(|(provider, _)| provider.clone());
    let otel_layer = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SCOPE))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_level(false)
            .with_target(false)
            .with_filter(Targets::new().with_target(env!("CARGO_CRATE_NAME"), Level::DEBUG))
    });
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // For code that uses the global OpenTelemetry API (a handler or library
    // you add); the server spans use the tracer handed to the app.
    if let Some(provider) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    let access_log = AccessLogWriter::new(writer.clone(), config.log_format);
    tracing_subscriber::registry()
        .with(log_layer(config.log_format, writer.clone()).with_filter(filter))
        .with(otel_layer)
        .try_init()?;
    let access_log = (config.access_log == Switch::On && access_log_enabled).then_some(access_log);
    if provider.is_some() {
        tracing::info!(endpoint = %config.otlp_endpoint, "exporting traces over OTLP/gRPC");
    } else {
        tracing::info!("traces are off");
    }
    Ok(TelemetryGuard {
        telemetry: Telemetry {
            tracer: provider
                .as_ref()
                .map(|provider| Arc::new(provider.tracer(SCOPE))),
            span_queue: traces.map(|(_, queue)| queue),
            log_writer: Some(writer),
            access_log,
        },
        provider,
        log_writer,
    })
}

impl TelemetryGuard {
    /// What the app records into.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// Exports the spans still queued, waiting at most `timeout`, then
    /// writes the last log lines. Runs the blocking SDK call on the blocking
    /// pool: called from an async worker it can deadlock against the
    /// exporter's own tasks.
    pub async fn shutdown(self, timeout: Duration) {
        if let Some(provider) = self.provider {
            let flush =
                tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout));
            match tokio::time::timeout(timeout + Duration::from_millis(500), flush).await {
                Ok(Ok(Ok(()))) => tracing::info!("spans flushed"),
                Ok(Ok(Err(err))) => {
                    tracing::warn!(error = %err, "could not flush every span before exit")
                }
                Ok(Err(err)) => tracing::warn!(error = %err, "span flush task failed"),
                Err(_) => tracing::warn!(?timeout, "span flush timed out; exiting anyway"),
            }
        }
        // The drops since the last rate-limited line, so the log adds up,
        // and the spans the receiver never got.
        if let Some(queue) = &self.telemetry.span_queue {
            queue.report(true);
            queue.report_not_sent();
        }
        tracing::info!("stopped");
        self.log_writer.stop(log_writer::LAST_WRITE_LIMIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResourceAttributes;

    fn service_name(config: &ServeConfig) -> Option<String> {
        traces::resource(config)
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
        let filter = log_filter("info,tower_http=debug")
            .expect("valid")
            .to_string();
        assert!(filter.contains("tower=off"), "{filter}");
        assert!(log_filter("info,=[").is_err());
    }
}
