//! `docker compose up --scale service=3` (issue 10, acceptance 3), checked
//! statically: the service can run as several replicas, Prometheus's
//! `service` job discovers them through Docker's DNS under a name that is
//! the compose service, at the port the service listens on, and the entry
//! point the host reaches proxies to that same service and port. The manual
//! check with Docker is in docs/scaling.md.

use checks::files::load_yaml;
use checks::ports::Wiring;
use checks::{into_result, repo_root, scaling};
use serde_json::Value;

fn load(name: &str) -> Value {
    load_yaml(&repo_root().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The problems of the port wiring that concern discovery.
fn discovery_problems(wiring: &Wiring) -> Vec<String> {
    wiring
        .problems()
        .into_iter()
        .filter(|p| p.at.contains("dns_sd_configs"))
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn the_service_scales_and_prometheus_discovers_every_replica() {
    let problems = scaling::problems(&load("compose.yaml"), &load("prometheus/prometheus.yml"));
    into_result("compose scaling", problems).unwrap_or_else(|e| panic!("{e}"));
    let wiring = Wiring::load(&repo_root()).unwrap_or_else(|e| panic!("{e}"));
    let discovered: Vec<String> = wiring
        .dials()
        .into_iter()
        .filter(|d| d.who == "prometheus.yml job service dns_sd_configs")
        .map(|d| d.address)
        .collect();
    assert_eq!(discovered, ["service:5000"], "what job service discovers");
    let problems = discovery_problems(&wiring);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A discovery name that is no compose service, or the wrong port, is
/// reported where the port wiring reports every other dial.
#[test]
fn a_discovery_name_or_port_that_misses_the_service_is_caught() {
    type Mutate = fn(&mut Value);
    let cases: &[(&str, Mutate, &str)] = &[
        (
            "a name that is no compose service",
            |p| p["scrape_configs"][0]["dns_sd_configs"][0]["names"][0] = "svc".into(),
            "which is no compose service",
        ),
        (
            "another service's name",
            |p| p["scrape_configs"][0]["dns_sd_configs"][0]["names"][0] = "inbox".into(),
            "must reach service",
        ),
        (
            "the wrong port",
            |p| p["scrape_configs"][0]["dns_sd_configs"][0]["port"] = 5001.into(),
            "needs service's http port 5000",
        ),
    ];
    for (what, mutate, expected) in cases {
        let mut wiring = Wiring::load(&repo_root()).unwrap_or_else(|e| panic!("{e}"));
        mutate(&mut wiring.prometheus);
        let problems = discovery_problems(&wiring);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected {expected:?} in {problems:#?}"
        );
    }
}

/// What would stop a second replica, or hide it from Prometheus, is caught.
#[test]
fn what_prevents_scaling_is_caught() {
    type Mutate = fn(&mut Value, &mut Value);
    let cases: &[(&str, Mutate, &str)] = &[
        (
            "a published host port on the service",
            |c, _| c["services"]["service"]["ports"] = serde_json::json!(["5000:5000"]),
            "publishes host port 5000",
        ),
        (
            "a fixed container name",
            |c, _| c["services"]["service"]["container_name"] = "service".into(),
            "one replica only",
        ),
        (
            "SRV discovery (Prometheus's default type)",
            |_, p| {
                p["scrape_configs"][0]["dns_sd_configs"][0]
                    .as_object_mut()
                    .map(|sd| sd.remove("type"));
            },
            "A records only",
        ),
        (
            "a static target next to discovery",
            |_, p| {
                p["scrape_configs"][0]["static_configs"] =
                    serde_json::json!([{"targets": ["service:5000"]}])
            },
            "use dns_sd_configs only",
        ),
        (
            "a static target instead of discovery",
            |_, p| {
                let job = p["scrape_configs"][0].as_object_mut().expect("job");
                job.remove("dns_sd_configs");
                job.insert(
                    "static_configs".into(),
                    serde_json::json!([{"targets": ["service:5000"]}]),
                );
            },
            "no dns_sd_configs",
        ),
    ];
    for (what, mutate, expected) in cases {
        let (mut compose, mut prometheus) =
            (load("compose.yaml"), load("prometheus/prometheus.yml"));
        mutate(&mut compose, &mut prometheus);
        let problems: Vec<String> = scaling::problems(&compose, &prometheus)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected {expected:?} in {problems:#?}"
        );
    }
}
