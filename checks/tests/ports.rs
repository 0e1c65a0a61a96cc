//! Acceptance 3 and 6 (ports): every host:port a file dials is the compose
//! service and port of the role that dialer needs (Tempo's data source its
//! HTTP port, the Collector's Tempo exporter Tempo's OTLP port, ...), as the
//! file configuring that program says, and compose lists the port.

use checks::ports::{Wiring, host_port};
use checks::{into_result, repo_root};

#[test]
fn ports_agree_across_compose_prometheus_collector_alertmanager_grafana() {
    let wiring = Wiring::load(&repo_root()).unwrap_or_else(|e| panic!("{e}"));
    into_result("port wiring", wiring.problems()).unwrap_or_else(|e| panic!("{e}"));
}

/// A port typo in one file is caught.
#[test]
fn a_mismatched_port_is_caught() {
    let mut wiring = Wiring::load(&repo_root()).unwrap_or_else(|e| panic!("{e}"));
    wiring.prometheus["scrape_configs"][0]["dns_sd_configs"][0]["port"] = 5001.into();
    wiring.alertmanager["receivers"][0]["webhook_configs"][0]["url"] =
        "http://inbox:5081/api/notifications".into();
    wiring.collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "0.0.0.0:4319".into();
    let problems = wiring.problems();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for needle in ["service:5001", "inbox:5081", "4319"] {
        assert!(
            text.iter().any(|p| p.contains(needle)),
            "{needle} not reported: {text:#?}"
        );
    }
}

/// A port that the target does listen on, but for another role, is caught:
/// the old check accepted any port the host listens on.
#[test]
fn a_port_of_the_wrong_role_is_caught() {
    let wiring = Wiring::load(&repo_root()).unwrap_or_else(|e| panic!("{e}"));
    assert!(wiring.problems().is_empty());
    type Mutate = fn(&mut Wiring);
    let cases: &[(&str, Mutate, &str)] = &[
        (
            "Tempo data source on Tempo's OTLP port",
            |w| w.datasources[0].1["datasources"][1]["url"] = "http://tempo:4317".into(),
            "datasource tempo",
        ),
        (
            "Collector's Tempo exporter on Tempo's HTTP port",
            |w| w.collector["exporters"]["otlp/tempo"]["endpoint"] = "tempo:3200".into(),
            "otel-collector exporter otlp/tempo",
        ),
        (
            "spanmetrics job on the Collector's own telemetry port",
            |w| {
                w.prometheus["scrape_configs"][3]["static_configs"][0]["targets"][0] =
                    "otel-collector:8888".into()
            },
            "prometheus.yml job spanmetrics",
        ),
        (
            "service exporting OTLP gRPC to the Collector's OTLP HTTP port",
            |w| {
                w.compose["services"]["service"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] =
                    "http://otel-collector:4318".into()
            },
            "compose.yaml service OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            "Prometheus data source on Alertmanager",
            |w| w.datasources[0].1["datasources"][0]["url"] = "http://alertmanager:9093".into(),
            "datasource prometheus",
        ),
        (
            "the entry point proxying to the service's metrics-less port",
            |w| w.entrypoint = w.entrypoint.replace("service:5000", "service:5080"),
            "entrypoint/nginx.conf proxy_pass",
        ),
        (
            "the entry point proxying to another compose service",
            |w| w.entrypoint = w.entrypoint.replace("service:5000", "inbox:5080"),
            "entrypoint/nginx.conf proxy_pass",
        ),
        (
            "a scrape job this check knows nothing about",
            |w| w.prometheus["scrape_configs"][0]["job_name"] = "svc".into(),
            "prometheus.yml job svc",
        ),
    ];
    for (what, mutate, who) in cases {
        let mut mutated = Wiring::load(&repo_root()).unwrap_or_else(|e| panic!("{e}"));
        mutate(&mut mutated);
        let problems = mutated.problems();
        assert!(
            problems.iter().any(|p| p.at.contains(who)),
            "{what}: not reported at {who}: {problems:#?}"
        );
    }
}

#[test]
fn contract_ports() {
    let wiring = Wiring::load(&repo_root()).unwrap_or_else(|e| panic!("{e}"));
    // Static targets and discovery names alike (`prometheus.yml job NAME[ dns_sd_configs]`).
    let targets: Vec<(String, u16)> = wiring
        .dials()
        .into_iter()
        .filter_map(|dial| {
            let job = dial.who.strip_prefix("prometheus.yml job ")?;
            let job = job.split(' ').next().unwrap_or(job);
            let (_, port) = host_port(&dial.address)?;
            Some((job.to_owned(), port))
        })
        .collect();
    let expected = [
        ("service", 5000),
        ("node", 9100),
        ("otel-collector", 8888),
        ("spanmetrics", 8889),
        ("prometheus", 9090),
    ];
    for (job, port) in expected {
        assert!(
            targets.contains(&(job.to_owned(), port)),
            "job {job} must scrape port {port}: {targets:?}"
        );
    }
}
