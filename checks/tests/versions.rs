//! One set of pins: compose's image tags and the Collector builder manifest
//! agree with `versions.yaml`, the manifest holds exactly the components the
//! Collector config uses, and the tools the checks run are those versions.

use checks::files::{load_yaml, load_yaml_with_env_defaults, str_at};
use checks::versions::{compose_matches_pins, manifest_matches};
use checks::{into_result, repo_root, tool};
use serde_json::Value;

fn load(name: &str) -> Value {
    load_yaml(&repo_root().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn collector_config() -> Value {
    load_yaml_with_env_defaults(&repo_root().join("otel-collector/config.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn compose_runs_the_pinned_images() {
    let problems = compose_matches_pins(&load("compose.yaml"), &load("versions.yaml"));
    into_result("compose.yaml", problems).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_drifted_compose_tag_is_caught() {
    let mut compose = load("compose.yaml");
    compose["services"]["prometheus"]["image"] = "prom/prometheus:v3.4.0".into();
    let problems = compose_matches_pins(&compose, &load("versions.yaml"));
    assert!(
        problems
            .iter()
            .any(|p| p.at == "services.prometheus.image" && p.message.contains("v3.5.0")),
        "{problems:?}"
    );
}

#[test]
fn the_builder_manifest_matches_the_config_and_the_pin() {
    let problems = manifest_matches(
        &load("otel-collector/builder.yaml"),
        &collector_config(),
        &load("versions.yaml")["otelcol"],
    );
    into_result("otel-collector/builder.yaml", problems).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_manifest_without_a_used_component_or_at_another_version_is_caught() {
    let pin = &load("versions.yaml")["otelcol"];
    let mut manifest = load("otel-collector/builder.yaml");
    manifest["connectors"] = Value::Array(Vec::new());
    let problems = manifest_matches(&manifest, &collector_config(), pin);
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("spanmetricsconnector")),
        "{problems:?}"
    );

    let mut manifest = load("otel-collector/builder.yaml");
    manifest["processors"][0]["gomod"] =
        "go.opentelemetry.io/collector/processor/memorylimiterprocessor v0.128.0".into();
    let problems = manifest_matches(&manifest, &collector_config(), pin);
    assert!(
        problems.iter().any(|p| p.message.contains("v0.128.0")),
        "{problems:?}"
    );
}

/// The validators on PATH are the pinned releases (`./scripts/test` puts
/// the `stack build` of each first on PATH), not whatever else is installed.
#[test]
fn the_tools_are_the_pinned_versions() {
    let pins = load("versions.yaml");
    let version = |key: &str| -> String {
        let image = str_at(&pins[key], "image").unwrap_or("");
        let tag = image.rsplit_once(':').map_or("", |(_, t)| t);
        tag.trim_start_matches('v').to_owned()
    };
    let dir = repo_root();
    for (command, key) in [
        ("promtool", "prometheus"),
        ("amtool", "alertmanager"),
        ("otelcol-contrib", "otelcol"),
    ] {
        let output = tool::run(command, &["--version"], &dir).unwrap_or_else(|e| panic!("{e}"));
        let wanted = version(key);
        assert!(
            output.contains(&format!("version {wanted}")),
            "{command} is not the pinned {wanted}: {output}"
        );
    }
}

#[test]
fn otelcol_validate_accepts_the_config() {
    tool::run(
        "otelcol-contrib",
        &["validate", "--config", "otel-collector/config.yaml"],
        &repo_root(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn otelcol_validate_rejects_a_component_the_build_lacks() {
    let error = tool::run(
        "otelcol-contrib",
        &[
            "validate",
            "--config",
            "otel-collector/config.yaml",
            "--set=exporters.zipkin.endpoint=http://localhost:9411",
        ],
        &repo_root(),
    )
    .expect_err("zipkin is not built in");
    assert!(error.to_string().contains("zipkin"), "{error}");
}
