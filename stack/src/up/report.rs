//! What `stack up` tells the operator once everything is ready: what runs
//! where, where to look at a trace, and what does not run and why.

use super::locate::Located;
use super::ports::Ports;
use super::roles::Role;
use super::state::ManifestEntry;
use super::state::StateDir;
use super::traces::TraceStore;
use crate::programs::pins::Program;

fn program_of(name: &str) -> Option<Program> {
    Some(match name {
        "node_exporter" => Program::NodeExporter,
        "prometheus" => Program::Prometheus,
        "alertmanager" => Program::Alertmanager,
        "otelcol" => Program::Otelcol,
        "tempo" => Program::Tempo,
        _ => return None,
    })
}

/// Every running component with its URL, pid, log and origin.
pub fn running(
    components: &[ManifestEntry],
    ports: &Ports,
    located: &Located,
    store: &TraceStore,
    state: &StateDir,
) {
    println!("stack is up; state in {}", state.root.display());
    for component in components {
        let origin = program_of(component.name)
            .and_then(|p| located.get(p))
            .map(|found| format!(", {}", found.origin))
            .unwrap_or_default();
        println!(
            "  {:<14} {}  (pid {}, log {}{origin})",
            component.name,
            component.url,
            component.pid,
            component.log.display()
        );
        if component.name == "otelcol" {
            collector_endpoints(ports);
        }
    }
    println!("  inbox token    {}", state.file("inbox-token").display());
    let services: Vec<String> = ports
        .services()
        .into_iter()
        .filter_map(|role| ports.url(role))
        .collect();
    if let Some(service) = services.first()
        && ports.url(Role::OtlpGrpc).is_some()
    {
        println!(
            "Traces: every response's `traceparent: 00-<trace id>-...` header names its trace \
             (try `curl -si {service}/api/items`)."
        );
        match (store, ports.url(Role::TempoHttp)) {
            (TraceStore::Local, Some(tempo)) => {
                println!("  open it in Tempo: {tempo}/api/traces/<trace id>");
            }
            (TraceStore::External(endpoint), _) => {
                println!("  the Collector sends it to the Tempo at {endpoint}");
            }
            (TraceStore::Absent, _) => {
                if let Some(prometheus) = ports.url(Role::Prometheus) {
                    println!(
                        "  no Tempo stores it; once the Collector has flushed its span metrics \
                         and Prometheus scraped them, the trace id is among the exemplars \
                         (grep for it): curl -sg \
                         '{prometheus}/api/v1/query_exemplars?query=traces_span_metrics_duration_seconds_bucket'"
                    );
                }
            }
            (TraceStore::Local, None) => {}
        }
    }
    let stack = this_program();
    let urls: Vec<String> = services.iter().map(|url| format!("--url {url}")).collect();
    println!(
        "Try: {stack} load {}   |   Ctrl-C stops everything.",
        urls.join(" ")
    );
}

/// The Collector's other listeners (its printed URL is the health check).
fn collector_endpoints(ports: &Ports) {
    let endpoints = [
        ("OTLP gRPC", Role::OtlpGrpc, ""),
        ("OTLP HTTP", Role::OtlpHttp, ""),
        ("metrics", Role::CollectorMetrics, "/metrics"),
        ("spanmetrics", Role::Spanmetrics, "/metrics"),
    ];
    for (what, role, path) in endpoints {
        if let Some(url) = ports.url(role) {
            println!("    {what:<12} {url}{path}");
        }
    }
}

/// How to run this `stack` again, for the commands the report suggests.
fn this_program() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "stack".into())
}

/// `a, b, or c`.
fn any_of(ways: impl IntoIterator<Item = String>) -> String {
    let mut ways: Vec<String> = ways.into_iter().collect();
    let last = ways.pop().unwrap_or_default();
    if ways.is_empty() {
        return last;
    }
    format!("{}, or {last}", ways.join(", "))
}

/// The optional components that do not run, why, and what to do.
pub fn not_running(
    located: &Located,
    grafana: &Result<super::grafana::Grafana, String>,
    store: &TraceStore,
    collector_runs: bool,
) {
    let stack = this_program();
    for (program, reason) in &located.missing {
        // A build the proxy refused would only be refused again.
        let build = |what: &str| {
            (!located.refused.contains(program))
                .then(|| format!("`{stack} build {what}` (needs Go and the Go module proxy)"))
        };
        let remedy = match program {
            Program::Otelcol => format!(
                "traces are not collected and the service exports none; to run it: {}",
                any_of(
                    build("otelcol")
                        .into_iter()
                        .chain(["pass --otelcol-bin PATH".into()])
                )
            ),
            Program::Tempo => format!(
                "traces are not stored (the Collector still derives span metrics); to run \
                 it: {}",
                any_of(build("tempo").into_iter().chain([
                    "put `tempo` on PATH".into(),
                    "pass --tempo-bin PATH".into(),
                    "--tempo-endpoint HOST:PORT of a running Tempo".into(),
                ]))
            ),
            _ => String::new(),
        };
        note!("stack: not running: {}: {reason}; {remedy}", program.key());
    }
    if collector_runs && *store == TraceStore::Absent {
        note!("stack: the Collector runs without its Tempo exporter (no Tempo to send to)");
    }
    if let Err(reason) = grafana {
        note!("stack: not running: grafana: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ways_read_as_a_list() {
        let ways = |list: &[&str]| any_of(list.iter().map(|way| (*way).to_owned()));
        assert_eq!(ways(&["a"]), "a");
        assert_eq!(ways(&["a", "b"]), "a, or b");
        assert_eq!(ways(&["a", "b", "c"]), "a, b, or c");
    }
}
