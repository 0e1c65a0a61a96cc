//! Command-line interface: every setting is a flag with an environment
//! variable, and `--help` documents it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use cli_values::{decimal, duration_at_least, expected, host_port, ip_addr, port, whole_number};

/// The shortest scrape or evaluation interval and readiness wait: less
/// would only spin (a 0s scrape interval becomes 1ms in Prometheus).
const SECOND: Duration = Duration::from_secs(1);
/// The shortest `stack load` run and per-request timeout: not zero.
const MILLISECOND: Duration = Duration::from_millis(1);

/// Run this repository's monitoring stack natively and drive traffic at it.
#[derive(Debug, Parser)]
#[command(name = "stack", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the inbox, the service, node_exporter, Alertmanager, Prometheus,
    /// the OpenTelemetry Collector and Tempo (and Grafana when installed)
    /// until Ctrl-C.
    Up(Box<UpArgs>),
    /// Build the Collector, Tempo, Prometheus, Alertmanager and node_exporter
    /// from their Go modules at the versions in versions.yaml (once per pin).
    Build(BuildArgs),
    /// Send HTTP traffic to the service and print a summary; `--cpu` runs the
    /// CPU drill.
    Load(LoadArgs),
}

/// Slowest and fastest `--rate` (req/s). Requests start every 1/R seconds:
/// the period must be a timer period tokio accepts (not zero) and fit a
/// `Duration` (not astronomically long).
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1_000_000.0;

/// A `stack load --url`: the service's base URL. `stack load` appends each
/// route's whole path to it, so a path here would prefix every route.
fn service_url(text: &str) -> Result<String, String> {
    const FORM: &str = "the service's http(s) base URL without a path, query, fragment or credentials (--route gives the paths)";
    let refusal = |example: &str| expected(FORM, example, text);
    let url = reqwest::Url::parse(text.trim()).map_err(|_| refusal("http://127.0.0.1:5000"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(refusal("http://127.0.0.1:5000"));
    }
    // Credentials would be printed with the URL in every line about it.
    let extra = url.path() != "/" || url.query().is_some() || url.fragment().is_some();
    if extra || !url.username().is_empty() || url.password().is_some() {
        // The example is this very URL without what does not belong.
        return Err(refusal(&url.origin().ascii_serialization()));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Settings of `stack up`. Port 0 means "pick a free port".
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Directory for generated configs, data and logs (created if missing).
    #[arg(long, env = "STACK_STATE_DIR", default_value = ".stack")]
    pub state_dir: PathBuf,

    /// Repository root holding prometheus/, alertmanager/ and grafana/.
    /// Defaults to the current directory, or the checkout that built `stack`.
    #[arg(long, env = "STACK_REPO_DIR")]
    pub repo_dir: Option<PathBuf>,

    /// Address every component listens on.
    #[arg(long, env = "STACK_BIND", default_value = "127.0.0.1", value_parser = ip_addr)]
    pub bind: std::net::IpAddr,

    /// How many service instances to run (1 to 16). Prometheus finds them
    /// through a targets file `stack up` keeps; `stack load --url` takes
    /// each instance's URL to spread traffic.
    #[arg(long, env = "STACK_REPLICAS", default_value_t = 1,
          value_parser = whole_number(1u8..=16, "3"))]
    pub replicas: u8,

    /// Added to every port below, defaults included (0, a free port,
    /// stays 0): `--port-offset 10000` runs a second stack on 15000,
    /// 15080, 19090, ... beside one on the default ports.
    #[arg(long, env = "STACK_PORT_OFFSET", default_value_t = 0,
          value_parser = whole_number(0u16..=60000, "10000"))]
    pub port_offset: u16,

    /// Port of the service (the instrumented app); Prometheus scrapes it;
    /// 0 = any free port (as for every port flag). Further replicas take
    /// the next ports (or free ports with 0).
    #[arg(long, env = "STACK_SERVICE_PORT", default_value_t = 5000, value_parser = port)]
    pub service_port: u16,
    /// Port of the notification inbox; Alertmanager posts to it.
    #[arg(long, env = "STACK_INBOX_PORT", default_value_t = 5080, value_parser = port)]
    pub inbox_port: u16,
    /// Port of node_exporter (host CPU metrics for HostHighCpuUsage).
    #[arg(long, env = "STACK_NODE_EXPORTER_PORT", default_value_t = 9100, value_parser = port)]
    pub node_exporter_port: u16,
    /// Port of Prometheus (web UI and API).
    #[arg(long, env = "STACK_PROMETHEUS_PORT", default_value_t = 9090, value_parser = port)]
    pub prometheus_port: u16,
    /// Port of Alertmanager (web UI and API).
    #[arg(long, env = "STACK_ALERTMANAGER_PORT", default_value_t = 9093, value_parser = port)]
    pub alertmanager_port: u16,
    /// Used only when a Grafana binary is on PATH.
    #[arg(long, env = "STACK_GRAFANA_PORT", default_value_t = 3000, value_parser = port)]
    pub grafana_port: u16,
    /// Tempo's HTTP API (trace lookup and search).
    #[arg(long, env = "STACK_TEMPO_PORT", default_value_t = 3200, value_parser = port)]
    pub tempo_port: u16,
    /// OTLP gRPC port of the Collector (the service sends its spans there).
    #[arg(long, env = "STACK_OTLP_GRPC_PORT", default_value_t = 4317, value_parser = port)]
    pub otlp_grpc_port: u16,
    /// OTLP HTTP port of the Collector.
    #[arg(long, env = "STACK_OTLP_HTTP_PORT", default_value_t = 4318, value_parser = port)]
    pub otlp_http_port: u16,
    /// The Collector's own metrics port.
    #[arg(long, env = "STACK_COLLECTOR_METRICS_PORT", default_value_t = 8888, value_parser = port)]
    pub collector_metrics_port: u16,
    /// The Collector's span-metrics Prometheus exporter port.
    #[arg(long, env = "STACK_SPANMETRICS_PORT", default_value_t = 8889, value_parser = port)]
    pub spanmetrics_port: u16,
    /// The Collector's health_check extension port.
    #[arg(long, env = "STACK_COLLECTOR_HEALTH_PORT", default_value_t = 13133, value_parser = port)]
    pub collector_health_port: u16,

    /// Override Prometheus's global scrape_interval (e.g. `1s` for tests);
    /// the rules stay the same.
    #[arg(long, env = "STACK_SCRAPE_INTERVAL", value_parser = duration_at_least(SECOND, "15s"))]
    pub scrape_interval: Option<Duration>,
    /// Override Prometheus's global evaluation_interval.
    #[arg(long, env = "STACK_EVALUATION_INTERVAL", value_parser = duration_at_least(SECOND, "15s"))]
    pub evaluation_interval: Option<Duration>,

    /// Bearer token for the inbox. Default: the token saved in the state
    /// directory, or a new random one.
    #[arg(long, env = "INBOX_TOKEN", hide_env_values = true)]
    pub inbox_token: Option<String>,

    /// The `service` binary. Default: next to the `stack` executable.
    #[arg(long, env = "STACK_SERVICE_BIN")]
    pub service_bin: Option<PathBuf>,
    /// The `inbox` binary. Default: next to the `stack` executable.
    #[arg(long, env = "STACK_INBOX_BIN")]
    pub inbox_bin: Option<PathBuf>,
    /// Prometheus binary. Default: the `stack build` of the pinned version,
    /// else `prometheus` on PATH (Debian package `prometheus`).
    #[arg(long, env = "STACK_PROMETHEUS_BIN")]
    pub prometheus_bin: Option<PathBuf>,
    /// node_exporter binary. Default: the pinned build, else
    /// `prometheus-node-exporter` on PATH.
    #[arg(long, env = "STACK_NODE_EXPORTER_BIN")]
    pub node_exporter_bin: Option<PathBuf>,
    /// Alertmanager binary. Default: the pinned build, else
    /// `prometheus-alertmanager` on PATH.
    #[arg(long, env = "STACK_ALERTMANAGER_BIN")]
    pub alertmanager_bin: Option<PathBuf>,
    /// OpenTelemetry Collector binary. Default: the pinned build, else
    /// `otelcol-contrib` on PATH.
    #[arg(long, env = "STACK_OTELCOL_BIN")]
    pub otelcol_bin: Option<PathBuf>,
    /// Tempo binary. Default: the pinned build, else `tempo` on PATH.
    #[arg(long, env = "STACK_TEMPO_BIN")]
    pub tempo_bin: Option<PathBuf>,
    /// OTLP gRPC `host:port` of a Tempo that is already running: the
    /// Collector sends traces there and no Tempo is started.
    #[arg(long, env = "STACK_TEMPO_ENDPOINT", value_parser = host_port)]
    pub tempo_endpoint: Option<String>,

    /// Never build missing programs with Go; use what is on PATH (and the
    /// Debian packages) instead.
    #[arg(long, env = "STACK_NO_BUILD")]
    pub no_build: bool,
    /// Where `stack build` keeps its builds.
    #[arg(long, env = "STACK_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Never start Grafana, the Collector or Tempo, even when available.
    #[arg(long, env = "STACK_NO_OPTIONAL")]
    pub no_optional: bool,

    /// Never run apt-get; print the install command instead.
    #[arg(long, env = "STACK_NO_INSTALL")]
    pub no_install: bool,

    /// How long each component may take to become ready.
    #[arg(long, env = "STACK_READY_TIMEOUT", default_value = "60s", value_parser = duration_at_least(SECOND, "60s"))]
    pub ready_timeout: Duration,
}

/// Settings of `stack build`.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Programs to build (default: all of them).
    #[arg(value_enum)]
    pub programs: Vec<crate::programs::pins::Program>,

    /// Where builds are kept. Default: `$XDG_CACHE_HOME/monitored-service`,
    /// else `~/.cache/monitored-service`.
    #[arg(long, env = "STACK_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Repository root holding versions.yaml and otel-collector/builder.yaml.
    /// Defaults to the current directory, or the checkout that built `stack`.
    #[arg(long, env = "STACK_REPO_DIR")]
    pub repo_dir: Option<PathBuf>,

    /// After building, print the built programs' binary folders on stdout,
    /// joined with `:`, for PATH.
    #[arg(long)]
    pub print_path: bool,
}

/// Settings of `stack load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the service (no path); repeat (or separate with commas)
    /// for several instances, which then take turns. Only these URLs get
    /// traffic: give one per instance to load every replica.
    #[arg(
        long,
        env = "STACK_SERVICE_URL",
        default_value = "http://127.0.0.1:5000",
        value_delimiter = ',',
        value_parser = service_url
    )]
    pub url: Vec<String>,

    /// Open-loop mode: start this many requests per second, whatever the
    /// latency (0.001 to 1000000).
    #[arg(long, env = "STACK_LOAD_RATE", conflicts_with = "concurrency",
          value_parser = decimal(MIN_RATE..=MAX_RATE, "50 or 2.5"))]
    pub rate: Option<f64>,

    /// Closed-loop mode: keep this many requests in flight (default 8; with
    /// `--cpu`, the number of online cores, at most the service's limit on
    /// concurrent CPU burns, which it names in its answers).
    #[arg(long, env = "STACK_LOAD_CONCURRENCY", value_parser = whole_number(1usize..=100_000, "8"))]
    pub concurrency: Option<usize>,

    /// Stop after this long (e.g. `30s`, `4m`). Default 10s (4m with `--cpu`).
    #[arg(long, env = "STACK_LOAD_DURATION", value_parser = duration_at_least(MILLISECOND, "500ms, 10s, 4m or 1h30m"),
          conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Stop after exactly this many requests.
    #[arg(long, short = 'n', env = "STACK_LOAD_REQUESTS",
          value_parser = whole_number(1u64..=1_000_000_000_000, "1000"))]
    pub requests: Option<u64>,

    /// A route to hit, `[METHOD] PATH` (e.g. `/api/items`, `POST /api/items`);
    /// repeat to build a mix, repeat one to weight it. Requests cycle through
    /// the list in order. `{created}` in PATH stands for the id of the item
    /// this run last created on that instance (`POST /api/items`), 1 before
    /// the first. Default: a mix over every endpoint incl. some 404s.
    #[arg(long = "route", env = "STACK_LOAD_ROUTES", value_delimiter = ',')]
    pub routes: Vec<String>,

    /// CPU drill: `GET /api/cpu?ms=CPU_MS` on every core (concurrency = online
    /// cores, capped at the service's burn limit, one per core by default) to
    /// hold the host above the HostHighCpuUsage threshold. Stops at once if
    /// the service has the drill off.
    #[arg(long, conflicts_with_all = ["routes", "rate"])]
    pub cpu: bool,

    /// Milliseconds of CPU each drill request burns (service maximum 10000);
    /// only with `--cpu`.
    // No environment variable: one left exported would refuse every plain
    // `stack load` (clap counts it as given).
    #[arg(long, default_value_t = 1000, requires = "cpu",
          value_parser = whole_number(1u32..=10_000, "1000"))]
    pub cpu_ms: u32,

    /// Per-request timeout.
    #[arg(long, env = "STACK_LOAD_TIMEOUT", default_value = "30s", value_parser = duration_at_least(MILLISECOND, "30s"))]
    pub timeout: Duration,

    /// Print the summary as one JSON object on stdout (for scripts and tests).
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_duration_names_the_flag_the_form_and_an_example() {
        let error = Cli::try_parse_from(["stack", "load", "--duration", "forever"])
            .expect_err("not a duration");
        let text = error.to_string();
        for part in [
            "--duration",
            "such as 500ms, 10s, 4m or 1h30m",
            "\"forever\"",
        ] {
            assert!(text.contains(part), "{text}");
        }
        assert_eq!(
            text.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{text}"
        );
    }

    fn load_args(argv: &[&str]) -> Result<LoadArgs, clap::Error> {
        let mut full = vec!["stack", "load"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full)?.command {
            Command::Load(args) => Ok(args),
            other => unreachable!("load parsed as {other:?}"),
        }
    }

    #[test]
    fn a_url_is_the_service_s_base_url_without_a_path() {
        for (url, instead) in [
            ("http://127.0.0.1:5000/api", "http://127.0.0.1:5000"),
            ("http://127.0.0.1:5000/?debug=1", "http://127.0.0.1:5000"),
            (
                "https://service.example:8443#top",
                "https://service.example:8443",
            ),
            ("127.0.0.1:5000", "http://127.0.0.1:5000"),
            ("ftp://127.0.0.1:5000", "http://127.0.0.1:5000"),
            ("http://user:secret@127.0.0.1:5000", "http://127.0.0.1:5000"),
        ] {
            let text = load_args(&["--url", url]).expect_err(url).to_string();
            for part in [
                "--url",
                "expected the service's http(s) base URL without a path",
                &format!("such as {instead}, got {url:?}"),
            ] {
                assert!(text.contains(part), "{url}: {text}");
            }
        }
        let args = load_args(&["--url", "http://127.0.0.1:5000/,https://10.0.0.2:5001"])
            .expect("base URLs");
        assert_eq!(args.url, ["http://127.0.0.1:5000", "https://10.0.0.2:5001"]);
        // As the client will send it: no stray separator before the routes.
        let args = load_args(&["--url", r"http:\\[::1]:5000\"]).expect("base URL");
        assert_eq!(args.url, ["http://[::1]:5000"]);
    }

    #[test]
    fn cpu_ms_needs_the_cpu_drill() {
        let error = load_args(&["--cpu-ms", "500"]).expect_err("--cpu-ms alone");
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert!(error.to_string().contains("--cpu"), "{error}");
        let drill = load_args(&["--cpu", "--cpu-ms", "500"]).expect("with --cpu");
        assert_eq!((drill.cpu, drill.cpu_ms), (true, 500));
        // Its default alone does not count as given.
        assert_eq!(load_args(&[]).expect("no flags").cpu_ms, 1000);
    }
}
