//! Acceptance 6: the Collector's pipelines reference only the components it
//! defines, and its ports agree with compose, Prometheus and the service's
//! default OTLP endpoint.

use std::collections::BTreeMap;

use checks::collector::{listen_ports, validate_pipelines};
use checks::compose::{container_ports, services};
use checks::files::{load_yaml, load_yaml_with_env_defaults, read, str_at};
use checks::{into_result, repo_root};
use serde_json::Value;

fn config() -> Value {
    load_yaml_with_env_defaults(&repo_root().join("otel-collector/config.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pipelines_reference_only_defined_components() {
    into_result("otel-collector/config.yaml", validate_pipelines(&config()))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_undefined_component_is_caught() {
    let mut mutated = config();
    if let Some(exporters) = mutated["exporters"].as_object_mut() {
        exporters.remove("otlp/tempo");
    }
    let problems = validate_pipelines(&mutated);
    assert!(
        problems.iter().any(|p| p.message.contains("otlp/tempo")),
        "{problems:?}"
    );

    let mut mutated = config();
    mutated["service"]["pipelines"]["metrics/spanmetrics"]["receivers"] =
        serde_json::json!(["otlp"]);
    let problems = validate_pipelines(&mutated);
    assert!(
        problems.iter().any(|p| p.at == "connectors.spanmetrics"),
        "{problems:?}"
    );
}

#[test]
fn listen_ports_match_the_contract_and_compose() {
    let ports = listen_ports(&config());
    let expected = BTreeMap::from([
        ("otlp-grpc", 4317),
        ("otlp-http", 4318),
        ("prometheus-exporter", 8889),
        ("telemetry", 8888),
        ("health-check", 13133),
    ]);
    assert_eq!(ports, expected);
    let compose = load_yaml(&repo_root().join("compose.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let declared = container_ports(services(&compose)["otel-collector"]);
    for (role, port) in ports {
        assert!(
            declared.contains(&port),
            "compose otel-collector does not declare {role} port {port}"
        );
    }
}

/// The service's built-in default (`http://localhost:4317`, used by the
/// native stack) must hit the Collector's OTLP gRPC port.
#[test]
fn service_default_otlp_endpoint_matches_the_collector_grpc_port() {
    let grpc = listen_ports(&config())["otlp-grpc"];
    let wanted = format!("\"http://localhost:{grpc}\"");
    let dir = repo_root().join("service/src");
    let sources = checks::files::list(&dir, &[".rs"]).unwrap_or_else(|e| panic!("{e}"));
    let found = sources
        .iter()
        .any(|f| read(f).map(|text| text.contains(&wanted)).unwrap_or(false));
    assert!(found, "service/src has no default OTLP endpoint {wanted}");
}

#[test]
fn spanmetrics_exemplars_reach_prometheus() {
    let config = config();
    assert_eq!(
        config["connectors"]["spanmetrics"]["exemplars"]["enabled"],
        true
    );
    assert_eq!(
        config["exporters"]["prometheus"]["enable_open_metrics"], true,
        "exemplars are only exposed in OpenMetrics format"
    );
    let compose = load_yaml(&repo_root().join("compose.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let prometheus = services(&compose)["prometheus"];
    assert!(
        checks::files::array_at(prometheus, "command")
            .iter()
            .any(|a| a == "--enable-feature=exemplar-storage"),
        "Prometheus must store exemplars"
    );
}

/// The pinned image and the version the config was written for are the same.
#[test]
fn config_header_names_the_pinned_collector_version() {
    let compose = load_yaml(&repo_root().join("compose.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let image = str_at(services(&compose)["otel-collector"], "image").unwrap_or("");
    assert!(
        image.starts_with("otel/opentelemetry-collector-contrib:"),
        "{image}"
    );
    let version = image.rsplit(':').next().unwrap_or("");
    let text =
        read(&repo_root().join("otel-collector/config.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let header: String = text.lines().take(2).collect();
    assert!(
        header.contains(version),
        "config.yaml header does not name version {version}"
    );
}
