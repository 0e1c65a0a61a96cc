//! The trace half on this host: Tempo and the OpenTelemetry Collector, run
//! with the repository's own `tempo/tempo.yaml` and
//! `otel-collector/config.yaml`, unchanged. Both files read every address
//! from an environment variable whose default is compose's value; here
//! they get this host's ports.

use std::path::Path;
use std::process::Command;

use super::Launch;
use super::ports::Ports;
use super::roles::Role;
use super::state::StateDir;

/// Every port the Collector listens on.
pub const COLLECTOR_ROLES: [Role; 5] = [
    Role::OtlpGrpc,
    Role::OtlpHttp,
    Role::CollectorMetrics,
    Role::Spanmetrics,
    Role::CollectorHealth,
];

/// Every port Tempo listens on.
pub const TEMPO_ROLES: [Role; 3] = [Role::TempoHttp, Role::TempoGrpc, Role::TempoOtlp];

/// Where the Collector sends traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceStore {
    /// The Tempo `stack up` starts.
    Local,
    /// A Tempo that runs elsewhere (`--tempo-endpoint`), OTLP gRPC `host:port`.
    External(String),
    /// None: the Collector still derives span metrics, but stores no trace.
    Absent,
}

/// Tempo in single-binary mode, its data under the state directory.
pub fn tempo(
    binary: &Path,
    repo: &Path,
    state: &StateDir,
    ports: &Ports,
) -> anyhow::Result<Launch> {
    let addr = |role| ports.addr(role).map(|a| a.to_string()).unwrap_or_default();
    let port = |role| ports.get(role).unwrap_or_default().to_string();
    let mut command = Command::new(binary);
    command
        .arg(format!(
            "-config.file={}",
            repo.join("tempo/tempo.yaml").display()
        ))
        .arg("-config.expand-env=true")
        .env("TEMPO_LISTEN_ADDRESS", ports.ip.to_string())
        .env("TEMPO_HTTP_PORT", port(Role::TempoHttp))
        .env("TEMPO_GRPC_PORT", port(Role::TempoGrpc))
        .env("TEMPO_OTLP_GRPC_ENDPOINT", addr(Role::TempoOtlp))
        .env("TEMPO_DATA_DIR", state.data("tempo")?);
    Ok(Launch {
        name: "tempo",
        role: Role::TempoHttp,
        listens: TEMPO_ROLES.to_vec(),
        command,
        // 200 once the ingester has joined its ring.
        ready_path: "/ready",
        show_path: "/",
    })
}

/// The Collector, sending traces to `store`.
pub fn collector(binary: &Path, repo: &Path, ports: &Ports, store: &TraceStore) -> Launch {
    let addr = |role| ports.addr(role).map(|a| a.to_string()).unwrap_or_default();
    let mut command = Command::new(binary);
    command
        .arg(format!(
            "--config={}",
            repo.join("otel-collector/config.yaml").display()
        ))
        .env("OTELCOL_OTLP_GRPC_ENDPOINT", addr(Role::OtlpGrpc))
        .env("OTELCOL_OTLP_HTTP_ENDPOINT", addr(Role::OtlpHttp))
        .env("OTELCOL_HEALTH_ENDPOINT", addr(Role::CollectorHealth))
        .env("OTELCOL_SPANMETRICS_ENDPOINT", addr(Role::Spanmetrics))
        .env("OTELCOL_METRICS_HOST", ports.ip.to_string())
        .env(
            "OTELCOL_METRICS_PORT",
            ports
                .get(Role::CollectorMetrics)
                .unwrap_or_default()
                .to_string(),
        );
    match store {
        TraceStore::Local => {
            command.env("TEMPO_OTLP_ENDPOINT", addr(Role::TempoOtlp));
        }
        TraceStore::External(endpoint) => {
            command.env("TEMPO_OTLP_ENDPOINT", endpoint);
        }
        // Without a Tempo the exporter would only fail and retry: take it
        // out of the pipeline on the command line, the file stays as it is.
        TraceStore::Absent => {
            command.arg("--set=service.pipelines.traces.exporters=[spanmetrics]");
        }
    }
    Launch {
        name: "otelcol",
        role: Role::CollectorHealth,
        listens: COLLECTOR_ROLES.to_vec(),
        command,
        // The health_check extension answers 200 once every pipeline runs.
        ready_path: "/",
        show_path: "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::up::ports::free_ports;

    fn env_of(command: &Command, name: &str) -> Option<String> {
        command
            .get_envs()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn the_collector_gets_this_hosts_ports_and_the_store_address() {
        let ports = free_ports(&[Role::OtlpGrpc, Role::CollectorMetrics, Role::TempoOtlp]);
        let external = TraceStore::External("10.0.0.7:4317".into());
        let launch = collector(Path::new("otelcol"), Path::new("/repo"), &ports, &external);
        let grpc = ports.addr(Role::OtlpGrpc).expect("grpc").to_string();
        assert_eq!(
            env_of(&launch.command, "OTELCOL_OTLP_GRPC_ENDPOINT"),
            Some(grpc)
        );
        assert_eq!(
            env_of(&launch.command, "OTELCOL_METRICS_PORT"),
            ports.get(Role::CollectorMetrics).map(|p| p.to_string())
        );
        assert_eq!(
            env_of(&launch.command, "TEMPO_OTLP_ENDPOINT").as_deref(),
            Some("10.0.0.7:4317")
        );

        let local = collector(
            Path::new("otelcol"),
            Path::new("/repo"),
            &ports,
            &TraceStore::Local,
        );
        let tempo = ports.addr(Role::TempoOtlp).expect("tempo").to_string();
        assert_eq!(env_of(&local.command, "TEMPO_OTLP_ENDPOINT"), Some(tempo));
    }

    #[test]
    fn without_a_store_the_tempo_exporter_leaves_the_pipeline() {
        let ports = free_ports(&[Role::OtlpGrpc]);
        let launch = collector(
            Path::new("otelcol"),
            Path::new("/repo"),
            &ports,
            &TraceStore::Absent,
        );
        let args: Vec<String> = launch
            .command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.contains(&"--set=service.pipelines.traces.exporters=[spanmetrics]".to_owned()),
            "{args:?}"
        );
        assert_eq!(env_of(&launch.command, "TEMPO_OTLP_ENDPOINT"), None);
    }
}
