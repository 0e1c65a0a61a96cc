//! What `docker compose up --scale service=N` needs, read from the files:
//!
//! - the compose service publishes no fixed host port and sets no
//!   `container_name`: either makes the second replica fail to start;
//! - Prometheus's `service` job finds its targets through Docker's DNS
//!   (`dns_sd_configs` of type `A`: Docker's embedded DNS answers a compose
//!   service name with one A record per running container, and serves no SRV
//!   records), and has no static target, which would scrape one replica a
//!   second time under another `instance`.
//!
//! That each discovery name is a compose service, at the port it listens on,
//! is checked with every other dial in [`crate::ports`].

use serde_json::Value;

use crate::Problem;
use crate::compose::{port_mappings, services};
use crate::files::{array_at, str_at};

/// The compose service that runs as replicas, and the Prometheus job that scrapes them.
pub const SCALED: &str = "service";

/// Everything in `compose` and `prometheus` (`prometheus/prometheus.yml`)
/// that stops [`SCALED`] from running as several replicas, or Prometheus
/// from seeing them all.
pub fn problems(compose: &Value, prometheus: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let services = services(compose);
    let at = format!("compose.yaml services.{SCALED}");
    match services.get(SCALED) {
        None => problems.push(Problem::new(at, "no such compose service")),
        Some(service) => {
            for port in port_mappings(service) {
                if let Some(published) = port.published {
                    problems.push(Problem::new(
                        format!("{at}.ports"),
                        format!(
                            "publishes host port {published}: a second replica cannot bind it \
                             (publish the entry point instead)"
                        ),
                    ));
                }
            }
            if service.get("container_name").is_some() {
                problems.push(Problem::new(
                    format!("{at}.container_name"),
                    "a fixed container name allows one replica only",
                ));
            }
        }
    }
    let job = array_at(prometheus, "scrape_configs")
        .iter()
        .find(|job| str_at(job, "job_name") == Some(SCALED));
    let at = format!("prometheus.yml job {SCALED}");
    let Some(job) = job else {
        problems.push(Problem::new(at, "no such scrape job"));
        return problems;
    };
    if !array_at(job, "static_configs").is_empty() {
        problems.push(Problem::new(
            format!("{at} static_configs"),
            "a static target is one replica (or all of them, as one instance): use dns_sd_configs only",
        ));
    }
    let discovery = array_at(job, "dns_sd_configs");
    if discovery.is_empty() {
        problems.push(Problem::new(
            at.clone(),
            "no dns_sd_configs: replicas beyond the first are never scraped",
        ));
    }
    for sd in discovery {
        // Prometheus's default type is SRV, which Docker's DNS does not serve.
        if str_at(sd, "type") != Some("A") {
            problems.push(Problem::new(
                format!("{at} dns_sd_configs"),
                format!(
                    "type {:?}: Docker's DNS answers service names with A records only",
                    str_at(sd, "type").unwrap_or("SRV (the default)")
                ),
            ));
        }
        if sd.get("port").and_then(Value::as_u64).is_none() {
            problems.push(Problem::new(
                format!("{at} dns_sd_configs"),
                "an A-record lookup needs `port`",
            ));
        }
        if array_at(sd, "names").is_empty() {
            problems.push(Problem::new(format!("{at} dns_sd_configs"), "no names"));
        }
    }
    problems
}
