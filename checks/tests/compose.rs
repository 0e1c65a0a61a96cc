//! Acceptance 3: the compose files pass the compose-spec JSON schema, every
//! file they mount exists, and the security-relevant settings hold (pinned
//! images, no default credentials, internal UIs on 127.0.0.1). Port
//! agreement across files lives in `ports.rs`.

use std::collections::{BTreeMap, BTreeSet};

use checks::compose::{bind_mounts, environment, missing_files, port_mappings, services};
use checks::files::{array_at, list, load_yaml, load_yaml_with_env_defaults, read, str_at};
use checks::grafana::{deleted_receiver_uids, receiver_uids};
use checks::{into_result, repo_root, tool};
use serde_json::Value;

/// compose.yaml and its optional overrides (compose.*.yaml).
fn compose_files() -> Vec<String> {
    let mut files: Vec<String> = list(&repo_root(), &[".yaml"])
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .filter(|n| n == "compose.yaml" || (n.starts_with("compose.") && n.ends_with(".yaml")))
        .collect();
    files.sort();
    assert!(
        files.contains(&"compose.yaml".to_owned()),
        "compose.yaml is missing"
    );
    files
}

fn load(name: &str) -> Value {
    load_yaml(&repo_root().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn main_compose() -> Value {
    load("compose.yaml")
}

#[test]
fn compose_files_pass_the_compose_spec_schema() {
    let files = compose_files();
    let mut args = vec!["--builtin-schema", "vendor.compose-spec"];
    args.extend(files.iter().map(String::as_str));
    let output =
        tool::run("check-jsonschema", &args, &repo_root()).unwrap_or_else(|e| panic!("{e}"));
    assert!(output.contains("ok"), "{output}");
}

#[test]
fn compose_has_no_obsolete_version_key() {
    for file in compose_files() {
        assert!(
            load(&file).get("version").is_none(),
            "{file}: the compose spec dropped `version:`"
        );
    }
}

#[test]
fn every_mounted_file_and_dockerfile_exists() {
    let root = repo_root();
    for file in compose_files() {
        let compose = load(&file);
        into_result(&file, missing_files(&compose, &root)).unwrap_or_else(|e| panic!("{e}"));
    }
    // The mounted directories must hold what the programs look for.
    let compose = main_compose();
    let targets: BTreeSet<String> = bind_mounts(&compose)
        .into_iter()
        .map(|m| m.target)
        .collect();
    for needed in [
        "/etc/prometheus/prometheus.yml",
        "/etc/prometheus/rules",
        "/etc/alertmanager/alertmanager.yml",
        "/etc/otelcol-contrib/config.yaml",
        "/etc/tempo/tempo.yaml",
        "/etc/grafana/provisioning/datasources",
        "/etc/grafana/provisioning/dashboards",
        "/etc/grafana/dashboards",
        "/etc/nginx/nginx.conf",
    ] {
        assert!(
            targets.contains(needed),
            "compose.yaml mounts nothing at {needed}"
        );
    }
    // Every alerting provisioning file is mounted (they are mounted one by one).
    for path in list(
        &root.join("grafana/provisioning/alerting"),
        &[".yaml", ".yml"],
    )
    .unwrap_or_else(|e| panic!("{e}"))
    {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let target = format!("/etc/grafana/provisioning/alerting/{name}");
        assert!(
            targets.contains(&target),
            "grafana/provisioning/alerting/{name} is not mounted"
        );
    }
}

/// Grafana's file provisioning only creates and updates contact points: an
/// integration enabled once stays in the grafana-data volume after its file
/// is gone. So for every alerting file an override mounts into Grafana,
/// compose.yaml mounts a default at the same container path (compose merges
/// volumes by target, so the override replaces it) that deletes exactly the
/// receivers the override's file provisions, and provisions none itself.
#[test]
fn optional_integrations_are_deleted_unless_their_override_is_used() {
    let root = repo_root();
    let alerting = "/etc/grafana/provisioning/alerting/";
    let defaults: BTreeMap<String, String> = bind_mounts(&main_compose())
        .into_iter()
        .filter(|m| m.service == "grafana" && m.target.starts_with(alerting))
        .map(|m| (m.target, m.source))
        .collect();
    let mut checked = 0;
    for file in compose_files().iter().filter(|f| *f != "compose.yaml") {
        for mount in bind_mounts(&load(file))
            .into_iter()
            .filter(|m| m.service == "grafana" && m.target.starts_with(alerting))
        {
            let default = defaults.get(&mount.target).unwrap_or_else(|| {
                panic!(
                    "{file} mounts {} at {}, but compose.yaml mounts no default there to delete \
                     the integration when {file} is not used",
                    mount.source, mount.target
                )
            });
            let on = load_yaml(&root.join(&mount.source)).unwrap_or_else(|e| panic!("{e}"));
            let off = load_yaml(&root.join(default)).unwrap_or_else(|e| panic!("{e}"));
            let provisioned = receiver_uids(&on);
            assert!(
                !provisioned.is_empty(),
                "{} provisions no receiver",
                mount.source
            );
            assert_eq!(
                deleted_receiver_uids(&off),
                provisioned,
                "{default} must delete exactly the receivers {} provisions",
                mount.source
            );
            assert!(
                receiver_uids(&off).is_empty(),
                "{default} is the off state and must provision nothing"
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected the Slack and e-mail integrations");
}

#[test]
fn every_expected_service_exists_with_healthchecks_and_conditions() {
    let compose = main_compose();
    let services = services(&compose);
    let expected = [
        "service",
        "entrypoint",
        "otel-collector",
        "tempo",
        "prometheus",
        "node-exporter",
        "alertmanager",
        "grafana",
        "inbox",
    ];
    for name in expected {
        assert!(services.contains_key(name), "no compose service {name}");
    }
    // The Collector image is distroless with no shell or HTTP client to run
    // a probe with; every other long-running service has a healthcheck
    // (Tempo's uses the busybox its image ships, see the test below).
    for name in expected
        .into_iter()
        .filter(|name| *name != "otel-collector")
    {
        assert!(
            services[name].get("healthcheck").is_some(),
            "{name} has no healthcheck"
        );
    }
    for (name, service) in &services {
        if let Some(depends) = service.get("depends_on") {
            let map = depends
                .as_object()
                .unwrap_or_else(|| panic!("{name}: use the long depends_on form with conditions"));
            for (dependency, spec) in map {
                let condition = str_at(spec, "condition").unwrap_or("");
                assert!(
                    [
                        "service_started",
                        "service_healthy",
                        "service_completed_successfully"
                    ]
                    .contains(&condition),
                    "{name} -> {dependency}: no condition"
                );
                if condition == "service_healthy" {
                    assert!(
                        services
                            .get(dependency.as_str())
                            .and_then(|s| s.get("healthcheck"))
                            .is_some(),
                        "{name} waits for {dependency} to be healthy, but it has no healthcheck"
                    );
                }
            }
        }
    }
    for (name, build) in [
        ("service", "service/Dockerfile"),
        ("inbox", "inbox/Dockerfile"),
    ] {
        assert_eq!(
            services[name]["build"]["dockerfile"], build,
            "{name} builds from {build}"
        );
    }
}

/// Tempo's image (2.8: gcr.io/distroless/static-debian12:debug) has no
/// /bin/sh, so the probe must be exec form; its wget is busybox's under
/// /busybox, which Tempo removed in 2.10 (grafana/tempo#5717). The probe hits
/// /ready on the HTTP port tempo.yaml configures.
#[test]
fn tempo_healthcheck_uses_the_busybox_wget_its_image_ships_on_its_ready_endpoint() {
    let compose = main_compose();
    let tempo = services(&compose)["tempo"];
    let test: Vec<&str> = array_at(&tempo["healthcheck"], "test")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        test.first().copied(),
        Some("CMD"),
        "the Tempo image has no /bin/sh for CMD-SHELL: {test:?}"
    );
    let config = load_yaml_with_env_defaults(&repo_root().join("tempo/tempo.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let port = config["server"]["http_listen_port"]
        .as_u64()
        .unwrap_or_else(|| panic!("tempo.yaml sets no server.http_listen_port"));
    assert_eq!(
        test.last().copied(),
        Some(format!("http://127.0.0.1:{port}/ready").as_str()),
        "probe Tempo's readiness endpoint on its HTTP port: {test:?}"
    );
    if test.get(1).is_some_and(|t| t.starts_with("/busybox/")) {
        let image = str_at(tempo, "image").unwrap_or("");
        let version: Vec<u64> = image
            .rsplit(':')
            .next()
            .unwrap_or("")
            .split('.')
            .take(2)
            .map(|n| n.parse().unwrap_or(u64::MAX))
            .collect();
        assert!(
            version.len() == 2 && (version[0], version[1]) < (2, 10),
            "{image}: Tempo 2.10 removed busybox from its image, replace the healthcheck"
        );
    }
    // The service waits for the Collector; if the Collector waited for a
    // healthy Tempo, a Tempo failure would keep the service from starting.
    assert_eq!(
        services(&compose)["otel-collector"]["depends_on"]["tempo"]["condition"],
        "service_started"
    );
}

#[test]
fn images_are_pinned_to_versions() {
    for (name, service) in services(&main_compose()) {
        if service.get("build").is_some() {
            continue;
        }
        let image = str_at(service, "image").unwrap_or_else(|| panic!("{name} has no image"));
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
            "{name}: image {image} is not pinned to a version"
        );
    }
}

#[test]
fn named_volumes_hold_the_state() {
    let compose = main_compose();
    let volumes = compose["volumes"].as_object().cloned().unwrap_or_default();
    for volume in [
        "prometheus-data",
        "alertmanager-data",
        "grafana-data",
        "tempo-data",
    ] {
        assert!(volumes.contains_key(volume), "no named volume {volume}");
    }
}

#[test]
fn node_exporter_uses_the_host_mounts_its_docs_prescribe() {
    let compose = main_compose();
    let node = services(&compose)["node-exporter"];
    assert_eq!(node["pid"], "host");
    assert!(
        array_at(node, "volumes")
            .iter()
            .any(|v| v == "/:/host:ro,rslave"),
        "mount the host root read-only with rslave propagation"
    );
    assert!(
        array_at(node, "command")
            .iter()
            .any(|a| a == "--path.rootfs=/host")
    );
}

/// node_exporter needs host mounts that rootless Docker and Docker Desktop
/// without rslave refuse. Prometheus must start anyway, or NodeExporterDown,
/// the alert for exactly that, could never fire: it may wait for the
/// container to start, not to be healthy, and not require it at all.
#[test]
fn prometheus_starts_without_a_working_node_exporter() {
    let compose = main_compose();
    let dependency = &services(&compose)["prometheus"]["depends_on"]["node-exporter"];
    assert_eq!(
        dependency["condition"], "service_started",
        "Prometheus must not wait for node-exporter to be healthy"
    );
    assert_eq!(
        dependency["required"], false,
        "compose must only warn when node-exporter cannot start"
    );
}

/// The service is reached through its entry point (it publishes nothing
/// itself, so it can run as replicas: `scaling.rs`).
#[test]
fn only_the_service_entry_point_and_grafana_are_public_by_default() {
    let compose = main_compose();
    for (name, service) in services(&compose) {
        for port in port_mappings(service) {
            let public = matches!(port.host_ip.as_deref(), None | Some("0.0.0.0"));
            match name.as_str() {
                "entrypoint" | "grafana" => assert!(public, "{name} must be published"),
                _ => {
                    assert_eq!(
                        port.host_ip.as_deref(),
                        Some("127.0.0.1"),
                        "{name}:{} must bind to 127.0.0.1 by default",
                        port.target
                    );
                    assert!(
                        port.host_ip_overridable,
                        "{name}:{} bind address must be overridable by env",
                        port.target
                    );
                }
            }
        }
    }
    let published = |name: &str| -> Vec<u16> {
        port_mappings(services(&compose)[name])
            .iter()
            .filter_map(|p| p.published)
            .collect()
    };
    assert_eq!(published("entrypoint"), vec![5000]);
    assert_eq!(published("service"), Vec::<u16>::new());
    assert_eq!(published("grafana"), vec![3000]);
    assert_eq!(published("prometheus"), vec![9090]);
    assert_eq!(published("node-exporter"), vec![9100]);
}

#[test]
fn grafana_has_no_default_credentials() {
    let compose = main_compose();
    let env = environment(services(&compose)["grafana"]);
    let password = env
        .get("GF_SECURITY_ADMIN_PASSWORD")
        .cloned()
        .unwrap_or_default();
    assert!(
        password.starts_with("${GF_SECURITY_ADMIN_PASSWORD:?"),
        "the admin password must come from the environment with no fallback, got {password:?}"
    );
    assert_eq!(
        env.get("GF_AUTH_ANONYMOUS_ENABLED").map(String::as_str),
        Some("false")
    );
    for (name, service) in services(&compose) {
        if let Some(token) = environment(service).get("INBOX_TOKEN") {
            assert!(
                token.starts_with("${INBOX_TOKEN:?"),
                "{name}: INBOX_TOKEN needs no fallback, got {token:?}"
            );
        }
    }
}

/// Every `${VAR}` the compose files read is explained in `.env.example`
/// and in docs/configuration.md.
#[test]
fn every_compose_variable_is_documented() {
    let root = repo_root();
    let example = read(&root.join(".env.example")).unwrap_or_else(|e| panic!("{e}"));
    let reference = read(&root.join("docs/configuration.md")).unwrap_or_else(|e| panic!("{e}"));
    for file in compose_files() {
        let text = read(&root.join(&file)).unwrap_or_else(|e| panic!("{e}"));
        for part in text.split("${").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                example.contains(&name),
                "{file}: ${{{name}}} is not in .env.example"
            );
            assert!(
                reference.contains(&name),
                "{file}: ${{{name}}} is not in docs/configuration.md"
            );
        }
    }
    assert!(
        read(&root.join(".gitignore"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == ".env"),
        ".env must be git-ignored"
    );
}

/// Optional notification channels are only provisioned by their overrides:
/// what compose.yaml mounts from grafana/optional/ (the off state) provisions
/// no receiver.
#[test]
fn optional_integrations_are_provisioned_only_by_their_overrides() {
    let root = repo_root();
    for mount in bind_mounts(&main_compose())
        .into_iter()
        .filter(|m| m.source.contains("grafana/optional"))
    {
        let doc = load_yaml(&root.join(&mount.source)).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            receiver_uids(&doc).is_empty(),
            "compose.yaml must not enable optional integrations, but {} provisions {:?}",
            mount.source,
            receiver_uids(&doc)
        );
    }
    for (file, optional) in [
        ("compose.slack.yaml", "grafana/optional/alerting/slack.yaml"),
        ("compose.email.yaml", "grafana/optional/alerting/email.yaml"),
    ] {
        let mounts = bind_mounts(&load(file));
        assert!(
            mounts.iter().any(|m| m.source.ends_with(optional)
                && m.target.starts_with("/etc/grafana/provisioning/alerting/")),
            "{file} does not provision {optional}"
        );
    }
}

/// Both images: built from the locked workspace in a Rust stage, run as a
/// non-root user in a small runtime image, with the binary's own healthcheck.
#[test]
fn dockerfiles_are_multi_stage_locked_non_root_with_healthcheck() {
    let root = repo_root();
    for package in ["service", "inbox"] {
        let path = root.join(package).join("Dockerfile");
        let text = read(&path).unwrap_or_else(|e| panic!("{e}"));
        let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
        assert_eq!(
            froms.len(),
            2,
            "{}: builder and runtime stages",
            path.display()
        );
        assert!(
            froms[0].starts_with("FROM rust:1.95-bookworm"),
            "{}",
            froms[0]
        );
        assert!(
            froms[1].contains("distroless") && froms[1].contains("nonroot"),
            "{}",
            froms[1]
        );
        assert!(text.contains(&format!("cargo build --release --locked -p {package}")));
        assert!(text.lines().any(|l| l.trim() == "USER nonroot:nonroot"));
        assert!(text.contains(&format!(
            "CMD [\"/usr/local/bin/{package}\", \"healthcheck\"]"
        )));
    }
    let ignore = read(&root.join(".dockerignore")).unwrap_or_else(|e| panic!("{e}"));
    for entry in ["target/", ".git/", ".env"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore lacks {entry}"
        );
    }
}
