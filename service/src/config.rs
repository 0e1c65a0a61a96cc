//! Command-line and environment configuration.
//!
//! Every setting is a `--flag` with an environment-variable equivalent, so the
//! same binary runs from a shell, a container or a systemd unit. The
//! OpenTelemetry settings use the standard `OTEL_*` variable names, parsed
//! here (not silently by the SDK) so a bad value stops the service with one
//! line that names the setting and the accepted form.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use cli_values::{decimal, socket_addr, whole_number};

mod values;

pub use values::{
    MAX_CPU_BURNS, ResourceAttributes, parse_burn_limit, parse_duration, parse_endpoint,
    parse_millis, parse_resource_attributes,
};

/// The `service` binary: serves HTTP by default, or runs a subcommand.
#[derive(Debug, Parser)]
#[command(name = "service", version, about, propagate_version = true)]
pub struct Cli {
    /// Settings of the HTTP server (used when no subcommand is given).
    #[command(flatten)]
    pub serve: ServeConfig,

    /// Optional subcommand; without one the service serves HTTP.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands of the `service` binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a running service: exit 0 when URL answers 200, 1 otherwise.
    ///
    /// Container images without curl use this as their HEALTHCHECK.
    /// The probe is shared with the inbox (`http_server::healthcheck`).
    Healthcheck(HealthcheckArgs),
}

/// Arguments of `service healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// URL to probe (plain http).
    #[arg(
        long,
        env = "SERVICE_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:5000/healthz"
    )]
    pub url: http::Uri,

    /// Give up after this long, e.g. `3s` or `500ms`.
    #[arg(long, env = "SERVICE_HEALTHCHECK_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// How much instrumentation runs. `off` exists for the benchmark baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TelemetryMode {
    /// No metrics recording, no spans and no per-request log line: the
    /// uninstrumented baseline.
    Off,
    /// Request metrics on `/metrics`, no traces.
    Metrics,
    /// Request metrics and traces (exported unless `OTEL_TRACES_EXPORTER=none`).
    Full,
}

/// Log line format on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A feature switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Where finished spans go (`OTEL_TRACES_EXPORTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TracesExporter {
    /// OTLP over gRPC to `--otlp-endpoint`.
    Otlp,
    /// Do not create or export spans.
    None,
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER`), as named by the
/// OpenTelemetry specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum SamplerKind {
    /// Record every trace.
    AlwaysOn,
    /// Record none.
    AlwaysOff,
    /// Record the fraction `OTEL_TRACES_SAMPLER_ARG` of traces.
    Traceidratio,
    /// Follow the caller's decision; record every new root trace.
    ParentbasedAlwaysOn,
    /// Follow the caller's decision; record no new root trace.
    ParentbasedAlwaysOff,
    /// Follow the caller's decision; record the fraction
    /// `OTEL_TRACES_SAMPLER_ARG` of new root traces.
    ParentbasedTraceidratio,
}

/// Settings of the HTTP server and its telemetry.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on (`HOST:PORT`; port 0 picks a free port).
    #[arg(long, env = "SERVICE_LISTEN", default_value = "0.0.0.0:5000", value_parser = socket_addr)]
    pub listen: SocketAddr,

    /// Instrumentation level: `off` is the benchmark baseline.
    #[arg(long, env = "SERVICE_TELEMETRY", value_enum, default_value_t = TelemetryMode::Full)]
    pub telemetry: TelemetryMode,

    /// Log format on stdout.
    #[arg(long, env = "SERVICE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter in `tracing` EnvFilter syntax, e.g. `info` or
    /// `warn,service=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    /// One log line per request (`info`, target `service::access`): `on` or
    /// `off`. The log filter applies too.
    #[arg(long, env = "SERVICE_ACCESS_LOG", value_enum, default_value_t = Switch::On)]
    pub access_log: Switch,

    /// How long in-flight requests may run after SIGTERM/SIGINT before the
    /// server stops waiting for them, e.g. `10s`.
    #[arg(long, env = "SERVICE_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// How long to wait, at shutdown, for the last spans to be exported.
    #[arg(long, env = "SERVICE_FLUSH_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub flush_timeout: Duration,

    /// Largest accepted request body, in bytes; larger bodies get 413.
    #[arg(long, env = "SERVICE_MAX_BODY_BYTES", default_value_t = 16 * 1024,
          value_parser = whole_number(1usize..=1 << 30, "16384"))]
    pub max_body_bytes: usize,

    /// Time for a request's headers to arrive, and longest idle time of a
    /// keep-alive connection, e.g. `10s`.
    #[arg(long, env = "SERVICE_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Longest time for a whole request (reading the body and answering);
    /// slower ones get 408. Above the drills' 10 s maximum.
    #[arg(long, env = "SERVICE_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Most client connections open at once (never more than `ulimit -n`
    /// allows); at the limit a new connection replaces a connection left
    /// idle, a stalled upload, or a connection that has just become idle.
    #[arg(long, env = "SERVICE_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = whole_number(1usize..=1_000_000, "1024"))]
    pub max_connections: usize,

    /// After SIGTERM/SIGINT, how long to keep serving (readiness already
    /// failing) with `Connection: close` on every response, so keep-alive
    /// clients leave before the listener closes, e.g. `500ms`.
    #[arg(long, env = "SERVICE_SHUTDOWN_LAME_DUCK", default_value = "500ms", value_parser = parse_duration)]
    pub shutdown_lame_duck: Duration,

    /// `service.name` resource attribute; overrides `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`. Defaults to `service`.
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,

    /// Extra resource attributes, `key1=value1,key2=value2`.
    #[arg(long, env = "OTEL_RESOURCE_ATTRIBUTES", value_parser = parse_resource_attributes)]
    pub resource_attributes: Option<ResourceAttributes>,

    /// Span exporter: `otlp` (gRPC) or `none`.
    #[arg(long, env = "OTEL_TRACES_EXPORTER", value_enum, default_value_t = TracesExporter::Otlp)]
    pub traces_exporter: TracesExporter,

    /// OTLP gRPC endpoint for spans (`http://HOST:PORT`).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", default_value = "http://localhost:4317", value_parser = parse_endpoint)]
    pub otlp_endpoint: String,

    /// Sampler: always_on, always_off, traceidratio, parentbased_always_on,
    /// parentbased_always_off or parentbased_traceidratio.
    #[arg(long, env = "OTEL_TRACES_SAMPLER", value_enum, default_value_t = SamplerKind::ParentbasedAlwaysOn)]
    pub traces_sampler: SamplerKind,

    /// Sampling ratio for the `*traceidratio` samplers, from 0.0 to 1.0.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_parser = decimal(0.0..=1.0, "0.25"))]
    pub traces_sampler_arg: Option<f64>,

    /// Capacity of the in-memory span queue; spans beyond it are dropped
    /// rather than slowing requests down, counted on /metrics
    /// (`otel_sdk_processor_span_processed_total{error_type="queue_full"}`)
    /// and logged at a limited rate.
    #[arg(long, env = "OTEL_BSP_MAX_QUEUE_SIZE", default_value_t = 4096,
          value_parser = whole_number(1usize..=1_000_000, "4096"))]
    pub span_queue_size: usize,

    /// `GET /api/cpu` (the CPU drill): `on`, or `off` to answer it with 404,
    /// e.g. where the port is reachable by untrusted clients.
    #[arg(long, env = "SERVICE_CPU_DRILL", value_enum, default_value_t = Switch::On)]
    pub cpu_drill: Switch,

    /// Most CPU drill burns running at once (1 to 4096); more answer 429.
    /// Default: one per core the service may use, so the drill can load
    /// every core and no more.
    #[arg(long, env = "SERVICE_MAX_CPU_BURNS", value_parser = parse_burn_limit)]
    pub max_cpu_burns: Option<NonZeroUsize>,

    /// Most `GET /api/work` waits at once (1 to 1000000); more answer 429.
    /// A wait costs nothing but holds its connection for up to 10 s, and the
    /// connection cap never cuts a running request: without this limit,
    /// clients looping on `/api/work?ms=10000` could fill the cap and lock
    /// everyone else out. Default: half the connection cap.
    #[arg(long, env = "SERVICE_MAX_WORK_WAITS",
          value_parser = whole_number(1usize..=1_000_000, "256"))]
    pub max_work_waits: Option<usize>,

    /// Most spans per OTLP export; an export starts as soon as this many
    /// are queued (at most `OTEL_BSP_MAX_QUEUE_SIZE`). Fewer, larger exports
    /// keep up with more spans per second (docs/performance.md).
    #[arg(long, env = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", default_value_t = 2048,
          value_parser = whole_number(1usize..=1_000_000, "2048"))]
    pub span_batch_size: usize,

    /// Longest wait before queued spans are exported, in milliseconds as
    /// the OpenTelemetry variable defines it (`500`), or with a unit
    /// (`500ms`, `1s`).
    #[arg(long, env = "OTEL_BSP_SCHEDULE_DELAY", default_value = "1000", value_parser = parse_millis)]
    pub span_schedule_delay: Duration,
}

impl Default for ServeConfig {
    /// The defaults as `--help` shows them, without reading the environment:
    /// what in-process tests start from.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5000)),
            telemetry: TelemetryMode::Full,
            log_format: LogFormat::Text,
            log_filter: "info".to_owned(),
            access_log: Switch::On,
            shutdown_grace: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(3),
            max_body_bytes: 16 * 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_lame_duck: Duration::from_millis(500),
            service_name: None,
            resource_attributes: None,
            traces_exporter: TracesExporter::Otlp,
            otlp_endpoint: "http://localhost:4317".to_owned(),
            traces_sampler: SamplerKind::ParentbasedAlwaysOn,
            traces_sampler_arg: None,
            span_queue_size: 4096,
            cpu_drill: Switch::On,
            max_cpu_burns: None,
            max_work_waits: None,
            span_batch_size: 2048,
            span_schedule_delay: Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_setting_the_form_and_an_example() {
        for (flag, value) in [
            ("--listen", "localhost:5000"),
            ("--max-connections", "0"),
            ("--max-body-bytes", "16KiB"),
            ("--shutdown-grace", "soon"),
            ("--max-cpu-burns", "lots"),
        ] {
            let text = Cli::try_parse_from(["service", flag, value])
                .expect_err(value)
                .to_string();
            assert!(text.contains(flag), "{text}");
            assert!(
                text.contains(" like ") || text.contains("such as ") || text.contains("e.g. "),
                "{text}"
            );
            assert!(text.contains(&format!("got {value:?}")), "{text}");
        }
    }

    #[test]
    fn the_drills_switch_and_limits_parse_from_the_command_line() {
        let cli = Cli::try_parse_from([
            "service",
            "--cpu-drill",
            "off",
            "--max-cpu-burns",
            "3",
            "--max-work-waits",
            "7",
        ])
        .expect("valid flags");
        assert_eq!(cli.serve.cpu_drill, Switch::Off);
        assert_eq!(cli.serve.max_cpu_burns.map(NonZeroUsize::get), Some(3));
        assert_eq!(cli.serve.max_work_waits, Some(7));
    }

    #[test]
    fn default_matches_the_command_line_defaults() {
        use clap::{CommandFactory as _, FromArgMatches as _};
        // Without the env bindings: the test run's own SERVICE_*/OTEL_*
        // variables must not stand in for the defaults.
        let matches = Cli::command()
            .mut_args(|arg| arg.env(None::<&str>))
            .try_get_matches_from(["service"])
            .expect("no arguments is valid");
        let parsed = Cli::from_arg_matches(&matches).expect("defaults parse");
        assert_eq!(
            format!("{:?}", parsed.serve),
            format!("{:?}", ServeConfig::default())
        );
    }
}
