//! Cross-file wiring: every host:port one file dials must be a port the
//! target listens on according to the files that configure it.
//!
//! Compose service names are the hosts. A target agrees when the compose
//! service exists, declares the port (`ports` or `expose`), and - where the
//! listening port is itself configured in a file (the Collector's receivers,
//! Tempo's `http_listen_port`, the service's and inbox's `*_LISTEN`) - that
//! file says the same port.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::compose::{container_ports, environment, services};
use crate::files::{array_at, list, load_yaml, str_at};
use crate::{CheckError, Problem, collector};

/// `(host, port)` of a URL such as `http://inbox:5080/api/notifications`
/// (default port from the scheme) or of a bare `host:port`.
pub fn host_port(address: &str) -> Option<(String, u16)> {
    let (scheme, rest) = match address.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, address),
    };
    let authority = rest.split('/').next()?;
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => match scheme {
            Some("http") => Some((authority.to_owned(), 80)),
            Some("https") => Some((authority.to_owned(), 443)),
            _ => None,
        },
    }
}

/// Every configuration file that names a port, parsed once.
#[derive(Debug)]
pub struct Wiring {
    pub compose: Value,
    pub prometheus: Value,
    pub alertmanager: Value,
    pub collector: Value,
    pub tempo: Value,
    /// `(file name, document)` of `grafana/provisioning/datasources/*.yaml`.
    pub datasources: Vec<(String, Value)>,
    /// `(file name, document)` of `grafana/provisioning/alerting/*.yaml`.
    pub alerting: Vec<(String, Value)>,
}

impl Wiring {
    /// Reads the files from the repository at `root`.
    pub fn load(root: &Path) -> Result<Self, CheckError> {
        let named = |dir: &str| -> Result<Vec<(String, Value)>, CheckError> {
            list(&root.join(dir), &[".yaml", ".yml"])?
                .into_iter()
                .map(|path| {
                    let name = path.display().to_string();
                    load_yaml(&path).map(|doc| (name, doc))
                })
                .collect()
        };
        Ok(Self {
            compose: load_yaml(&root.join("compose.yaml"))?,
            prometheus: load_yaml(&root.join("prometheus/prometheus.yml"))?,
            alertmanager: load_yaml(&root.join("alertmanager/alertmanager.yml"))?,
            collector: load_yaml(&root.join("otel-collector/config.yaml"))?,
            tempo: load_yaml(&root.join("tempo/tempo.yaml"))?,
            datasources: named("grafana/provisioning/datasources")?,
            alerting: named("grafana/provisioning/alerting")?,
        })
    }

    /// Ports that a file other than compose.yaml says a compose service
    /// listens on, by service name.
    fn configured_listen_ports(&self) -> BTreeMap<String, Vec<(String, u16)>> {
        let mut ports: BTreeMap<String, Vec<(String, u16)>> = BTreeMap::new();
        for (role, port) in collector::listen_ports(&self.collector) {
            ports
                .entry("otel-collector".into())
                .or_default()
                .push((format!("otel-collector/config.yaml ({role})"), port));
        }
        if let Some(port) = self
            .tempo
            .pointer("/server/http_listen_port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        {
            ports
                .entry("tempo".into())
                .or_default()
                .push(("tempo/tempo.yaml (http_listen_port)".into(), port));
        }
        if let Some(port) = self
            .tempo
            .pointer("/distributor/receivers/otlp/protocols/grpc/endpoint")
            .and_then(Value::as_str)
            .and_then(collector::endpoint_port)
        {
            ports
                .entry("tempo".into())
                .or_default()
                .push(("tempo/tempo.yaml (otlp grpc)".into(), port));
        }
        let services = services(&self.compose);
        for (service, variable) in [("service", "SERVICE_LISTEN"), ("inbox", "INBOX_LISTEN")] {
            if let Some(port) = services
                .get(service)
                .and_then(|s| environment(s).get(variable).cloned())
                .and_then(|listen| collector::endpoint_port(&listen))
            {
                ports
                    .entry(service.into())
                    .or_default()
                    .push((format!("compose.yaml {service} {variable}"), port));
            }
        }
        ports
    }

    /// Every `(who dials, address)` pair in the configuration.
    fn dialled(&self) -> Vec<(String, String)> {
        let mut dials = Vec::new();
        for job in array_at(&self.prometheus, "scrape_configs") {
            let name = str_at(job, "job_name").unwrap_or("?");
            for sc in array_at(job, "static_configs") {
                for target in array_at(sc, "targets").iter().filter_map(Value::as_str) {
                    // Prometheus scraping itself: the prometheus service.
                    let target = target.replace("localhost:", "prometheus:");
                    dials.push((format!("prometheus.yml job {name}"), target));
                }
            }
        }
        for am in self
            .prometheus
            .pointer("/alerting/alertmanagers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for sc in array_at(am, "static_configs") {
                for target in array_at(sc, "targets").iter().filter_map(Value::as_str) {
                    dials.push(("prometheus.yml alerting".into(), target.to_owned()));
                }
            }
        }
        for receiver in array_at(&self.alertmanager, "receivers") {
            for hook in array_at(receiver, "webhook_configs") {
                if let Some(url) = str_at(hook, "url") {
                    dials.push(("alertmanager.yml webhook".into(), url.to_owned()));
                }
            }
        }
        for (file, doc) in &self.datasources {
            for ds in array_at(doc, "datasources") {
                if let Some(url) = str_at(ds, "url") {
                    let uid = str_at(ds, "uid").unwrap_or("?");
                    dials.push((format!("{file} datasource {uid}"), url.to_owned()));
                }
            }
        }
        for (file, doc) in &self.alerting {
            for cp in array_at(doc, "contactPoints") {
                for receiver in array_at(cp, "receivers") {
                    if str_at(receiver, "type") == Some("webhook")
                        && let Some(url) = receiver.pointer("/settings/url").and_then(Value::as_str)
                    {
                        dials.push((format!("{file} contact point"), url.to_owned()));
                    }
                }
            }
        }
        if let Some(exporters) = self.collector.get("exporters").and_then(Value::as_object) {
            for (id, exporter) in exporters {
                if id.split('/').next() == Some("otlp")
                    && let Some(endpoint) = str_at(exporter, "endpoint")
                {
                    dials.push((format!("otel-collector exporter {id}"), endpoint.to_owned()));
                }
            }
        }
        for (name, service) in services(&self.compose) {
            if let Some(endpoint) = environment(service).get("OTEL_EXPORTER_OTLP_ENDPOINT") {
                dials.push((
                    format!("compose.yaml {name} OTEL_EXPORTER_OTLP_ENDPOINT"),
                    endpoint.clone(),
                ));
            }
        }
        dials
    }

    /// Every disagreement between who dials what and who listens where.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let services = services(&self.compose);
        let configured = self.configured_listen_ports();
        for (who, address) in self.dialled() {
            let Some((host, port)) = host_port(&address) else {
                problems.push(Problem::new(
                    &who,
                    format!("cannot read host:port from {address:?}"),
                ));
                continue;
            };
            let Some(service) = services.get(&host) else {
                problems.push(Problem::new(
                    &who,
                    format!("{address} names host {host:?}, which is no compose service"),
                ));
                continue;
            };
            if !container_ports(service).contains(&port) {
                problems.push(Problem::new(
                    &who,
                    format!(
                        "{address}: compose service {host} declares no port {port} (ports/expose)"
                    ),
                ));
            }
            if let Some(listens) = configured.get(&host)
                && !listens.iter().any(|(_, p)| *p == port)
            {
                let said: Vec<String> = listens.iter().map(|(f, p)| format!("{f}: {p}")).collect();
                problems.push(Problem::new(
                    &who,
                    format!(
                        "{address}: {host} listens on none of its configured ports [{}]",
                        said.join(", ")
                    ),
                ));
            }
        }
        // Ports a configuration file opens must also be declared in compose,
        // or containers cannot reach them.
        for (host, listens) in &configured {
            let declared = services
                .get(host)
                .map(|s| container_ports(s))
                .unwrap_or_default();
            for (file, port) in listens {
                if !declared.contains(port) {
                    problems.push(Problem::new(
                        file.as_str(),
                        format!("{host} listens on {port} but compose.yaml does not declare it"),
                    ));
                }
            }
        }
        problems
    }
}
