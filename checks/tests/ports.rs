//! Acceptance 3 and 6 (ports): every host:port a file dials is a compose
//! service that declares that port, and the file configuring that program
//! listens there.

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
    wiring.prometheus["scrape_configs"][0]["static_configs"][0]["targets"][0] =
        "service:5001".into();
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

#[test]
fn contract_ports() {
    let wiring = Wiring::load(&repo_root()).unwrap_or_else(|e| panic!("{e}"));
    let targets: Vec<(String, u16)> = wiring.prometheus["scrape_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|job| {
            let target = job["static_configs"][0]["targets"][0]
                .as_str()
                .unwrap_or("");
            let (_, port) = host_port(target).unwrap_or_default();
            (job["job_name"].as_str().unwrap_or("").to_owned(), port)
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
