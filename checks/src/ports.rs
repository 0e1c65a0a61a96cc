//! Cross-file wiring: every host:port one file dials must be the port of
//! the program and role that dialer needs, according to the files that
//! configure the program.
//!
//! Compose service names are the hosts. A Prometheus job that finds its
//! targets through DNS (`dns_sd_configs`) dials `name:port` for each name,
//! so a discovery name that is no compose service, or the wrong port, is
//! caught like a static target. Each dialer has an expected target,
//! a compose service and a role (Prometheus job `spanmetrics` must reach the
//! Collector's `prometheus-exporter` port, the Tempo data source Tempo's
//! `http` port, the Collector's `otlp/tempo` exporter Tempo's `otlp-grpc`
//! port, ...). A dial agrees when it names that service and the port that
//! role listens on: read from the file that configures it (the Collector's
//! receivers and exporters, Tempo's `http_listen_port` and OTLP receiver, the
//! service's and inbox's `*_LISTEN`) or, for Prometheus, Alertmanager and
//! node_exporter, which compose runs without `--web.listen-address`, their
//! documented default. A port of another role of the same program is
//! reported as such.
//!
//! Compose's `ports`/`expose` must also list every port a program listens
//! on. Docker does not need that: containers on one compose network reach
//! each other's ports whether exposed or not. It keeps compose.yaml an
//! accurate list of who listens where, which docs/configuration.md repeats.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::compose::{container_ports, environment, services};
use crate::files::{array_at, list, load_yaml, load_yaml_with_env_defaults, read, str_at};
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
    /// The text of `entrypoint/nginx.conf` (the service's entry point under compose).
    pub entrypoint: String,
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
            collector: load_yaml_with_env_defaults(&root.join("otel-collector/config.yaml"))?,
            tempo: load_yaml_with_env_defaults(&root.join("tempo/tempo.yaml"))?,
            datasources: named("grafana/provisioning/datasources")?,
            alerting: named("grafana/provisioning/alerting")?,
            entrypoint: read(&root.join("entrypoint/nginx.conf"))?,
        })
    }

    /// Every port a compose service listens on, by role, and the source
    /// that says so.
    pub fn listens(&self) -> BTreeMap<String, Vec<Listen>> {
        let mut listens: BTreeMap<String, Vec<Listen>> = BTreeMap::new();
        let mut add = |host: &str, role: &str, port: u16, source: String| {
            listens.entry(host.to_owned()).or_default().push(Listen {
                role: role.to_owned(),
                port,
                source,
            });
        };
        for (role, port) in collector::listen_ports(&self.collector) {
            add(
                "otel-collector",
                role,
                port,
                format!("otel-collector/config.yaml ({role})"),
            );
        }
        if let Some(port) = self
            .tempo
            .pointer("/server/http_listen_port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        {
            add(
                "tempo",
                "http",
                port,
                "tempo/tempo.yaml server.http_listen_port".into(),
            );
        }
        if let Some(port) = self
            .tempo
            .pointer("/distributor/receivers/otlp/protocols/grpc/endpoint")
            .and_then(Value::as_str)
            .and_then(collector::endpoint_port)
        {
            add(
                "tempo",
                "otlp-grpc",
                port,
                "tempo/tempo.yaml distributor otlp grpc".into(),
            );
        }
        for port in nginx_listen_ports(&self.entrypoint) {
            add(
                "entrypoint",
                "http",
                port,
                "entrypoint/nginx.conf listen".into(),
            );
        }
        let services = services(&self.compose);
        for (service, variable) in [("service", "SERVICE_LISTEN"), ("inbox", "INBOX_LISTEN")] {
            if let Some(port) = services
                .get(service)
                .and_then(|s| environment(s).get(variable).cloned())
                .and_then(|listen| collector::endpoint_port(&listen))
            {
                add(
                    service,
                    "http",
                    port,
                    format!("compose.yaml {service} {variable}"),
                );
            }
        }
        // Programs configured by flags only: `--web.listen-address` in
        // compose, else the default their documentation gives.
        for (service, default) in [
            ("prometheus", 9090),
            ("alertmanager", 9093),
            ("node-exporter", 9100),
        ] {
            let flag = services.get(service).and_then(|s| {
                array_at(s, "command")
                    .iter()
                    .filter_map(Value::as_str)
                    .find_map(|arg| arg.strip_prefix("--web.listen-address="))
                    .and_then(collector::endpoint_port)
            });
            match flag {
                Some(port) => add(
                    service,
                    "http",
                    port,
                    format!("compose.yaml {service} --web.listen-address"),
                ),
                None => add(
                    service,
                    "http",
                    default,
                    format!("{service}'s default --web.listen-address"),
                ),
            }
        }
        listens
    }

    /// Every dial in the configuration with the target it must reach.
    pub fn dials(&self) -> Vec<Dial> {
        let mut dials = Vec::new();
        for job in array_at(&self.prometheus, "scrape_configs") {
            let name = str_at(job, "job_name").unwrap_or("?");
            let expect = match name {
                "service" => Some(Target::exact("service", "http")),
                "node" => Some(Target::exact("node-exporter", "http")),
                "otel-collector" => Some(Target::exact("otel-collector", "telemetry")),
                "spanmetrics" => Some(Target::exact("otel-collector", "prometheus-exporter")),
                "prometheus" => Some(Target::exact("prometheus", "http")),
                _ => None,
            };
            for sc in array_at(job, "static_configs") {
                for target in array_at(sc, "targets").iter().filter_map(Value::as_str) {
                    // Prometheus scraping itself: the prometheus service.
                    let target = target.replace("localhost:", "prometheus:");
                    dials.push(Dial::new(
                        format!("prometheus.yml job {name}"),
                        target,
                        expect.clone(),
                    ));
                }
            }
            for sd in array_at(job, "dns_sd_configs") {
                let port = sd.get("port").and_then(Value::as_u64).unwrap_or(0);
                for dns_name in array_at(sd, "names").iter().filter_map(Value::as_str) {
                    dials.push(Dial::new(
                        format!("prometheus.yml job {name} dns_sd_configs"),
                        format!("{dns_name}:{port}"),
                        expect.clone(),
                    ));
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
                    dials.push(Dial::new(
                        "prometheus.yml alerting",
                        target,
                        Some(Target::exact("alertmanager", "http")),
                    ));
                }
            }
        }
        for receiver in array_at(&self.alertmanager, "receivers") {
            for hook in array_at(receiver, "webhook_configs") {
                if let Some(url) = str_at(hook, "url") {
                    dials.push(Dial::new(
                        "alertmanager.yml webhook",
                        url,
                        Some(Target::exact("inbox", "http")),
                    ));
                }
            }
        }
        for (file, doc) in &self.datasources {
            for ds in array_at(doc, "datasources") {
                if let Some(url) = str_at(ds, "url") {
                    let uid = str_at(ds, "uid").unwrap_or("?");
                    let expect = match str_at(ds, "type") {
                        Some("prometheus") => Some(Target::exact("prometheus", "http")),
                        Some("tempo") => Some(Target::exact("tempo", "http")),
                        Some("alertmanager") => Some(Target::exact("alertmanager", "http")),
                        _ => None,
                    };
                    dials.push(Dial::new(format!("{file} datasource {uid}"), url, expect));
                }
            }
        }
        for (file, doc) in &self.alerting {
            for cp in array_at(doc, "contactPoints") {
                for receiver in array_at(cp, "receivers") {
                    if str_at(receiver, "type") == Some("webhook")
                        && let Some(url) = receiver.pointer("/settings/url").and_then(Value::as_str)
                    {
                        dials.push(Dial::new(
                            format!("{file} contact point"),
                            url,
                            Some(Target::exact("inbox", "http")),
                        ));
                    }
                }
            }
        }
        if let Some(exporters) = self.collector.get("exporters").and_then(Value::as_object) {
            for (id, exporter) in exporters {
                let expect = match id.as_str() {
                    "otlp/tempo" => Some(Target::exact("tempo", "otlp-grpc")),
                    _ if id.split('/').next() == Some("otlp") => {
                        Some(Target::dialled_host("otlp-grpc"))
                    }
                    _ => continue,
                };
                if let Some(endpoint) = str_at(exporter, "endpoint") {
                    dials.push(Dial::new(
                        format!("otel-collector exporter {id}"),
                        endpoint,
                        expect,
                    ));
                }
            }
        }
        for upstream in nginx_upstreams(&self.entrypoint) {
            dials.push(Dial::new(
                "entrypoint/nginx.conf proxy_pass",
                upstream,
                Some(Target::exact("service", "http")),
            ));
        }
        for (name, service) in services(&self.compose) {
            let env = environment(service);
            if let Some(endpoint) = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
                let role = match env.get("OTEL_EXPORTER_OTLP_PROTOCOL").map(String::as_str) {
                    Some(protocol) if protocol.starts_with("http") => "otlp-http",
                    _ => "otlp-grpc",
                };
                dials.push(Dial::new(
                    format!("compose.yaml {name} OTEL_EXPORTER_OTLP_ENDPOINT"),
                    endpoint,
                    Some(Target::exact("otel-collector", role)),
                ));
            }
        }
        dials
    }

    /// Every disagreement between who dials what and who listens where.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let services = services(&self.compose);
        let listens = self.listens();
        for dial in self.dials() {
            let who = dial.who.as_str();
            let address = dial.address.as_str();
            let Some((host, port)) = host_port(address) else {
                problems.push(Problem::new(
                    who,
                    format!("cannot read host:port from {address:?}"),
                ));
                continue;
            };
            let Some(service) = services.get(&host) else {
                problems.push(Problem::new(
                    who,
                    format!("{address} names host {host:?}, which is no compose service"),
                ));
                continue;
            };
            if !container_ports(service).contains(&port) {
                problems.push(Problem::new(
                    who,
                    format!(
                        "{address}: compose service {host} lists no port {port} (ports/expose)"
                    ),
                ));
            }
            let Some(expect) = &dial.expect else {
                problems.push(Problem::new(
                    who,
                    format!(
                        "{address}: no expected target for this dialer; add it to Wiring::dials \
                         in checks/src/ports.rs"
                    ),
                ));
                continue;
            };
            if let Some(wanted) = &expect.host
                && *wanted != host
            {
                problems.push(Problem::new(
                    who,
                    format!("{address} names {host}, but this dialer must reach {wanted}"),
                ));
                continue;
            }
            let of_host = listens.get(&host).map(Vec::as_slice).unwrap_or_default();
            let Some(listen) = of_host.iter().find(|l| l.role == expect.role) else {
                problems.push(Problem::new(
                    who,
                    format!(
                        "{address}: no file says which port {host} listens on for {}",
                        expect.role
                    ),
                ));
                continue;
            };
            if listen.port != port {
                let other = of_host
                    .iter()
                    .find(|l| l.port == port)
                    .map(|l| format!(", which is its {} port", l.role))
                    .unwrap_or_default();
                problems.push(Problem::new(
                    who,
                    format!(
                        "{address}: needs {host}'s {} port {} ({}), not {port}{other}",
                        expect.role, listen.port, listen.source
                    ),
                ));
            }
        }
        // compose.yaml lists every port a configuration file opens (see the
        // module docs: documentation, not a reachability requirement).
        for (host, of_host) in &listens {
            let declared = services
                .get(host)
                .map(|s| container_ports(s))
                .unwrap_or_default();
            for listen in of_host {
                if !declared.contains(&listen.port) {
                    problems.push(Problem::new(
                        listen.source.as_str(),
                        format!(
                            "{host} listens on {} ({}) but compose.yaml lists no such port",
                            listen.port, listen.role
                        ),
                    ));
                }
            }
        }
        problems
    }
}

/// The arguments of every `NAME ARG;` directive of an nginx config, comments
/// dropped (enough for the flat config of `entrypoint/nginx.conf`).
fn nginx_directives<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|rest| rest.trim().trim_end_matches(';').trim())
        .collect()
}

/// Ports of nginx's `listen` directives (`listen 5000;`, `listen 0.0.0.0:5000;`).
fn nginx_listen_ports(text: &str) -> Vec<u16> {
    nginx_directives(text, "listen")
        .into_iter()
        .filter_map(|arg| {
            let address = arg.split_whitespace().next()?;
            address.rsplit(':').next()?.parse().ok()
        })
        .collect()
}

/// `proxy_pass` URLs with the variables nginx's `set $name value;` gives
/// them filled in (`http://$replicas` -> `http://service:5000`).
fn nginx_upstreams(text: &str) -> Vec<String> {
    let variables: Vec<(String, String)> = nginx_directives(text, "set")
        .into_iter()
        .filter_map(|arg| {
            let (name, value) = arg.split_once(char::is_whitespace)?;
            Some((name.to_owned(), value.trim().to_owned()))
        })
        .collect();
    nginx_directives(text, "proxy_pass")
        .into_iter()
        .map(|url| {
            variables.iter().fold(url.to_owned(), |url, (name, value)| {
                url.replace(name, value)
            })
        })
        .collect()
}

/// A port a compose service listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// What the port is for: `http`, `otlp-grpc`, `telemetry`, ...
    pub role: String,
    pub port: u16,
    /// The file and setting (or documented default) it comes from.
    pub source: String,
}

/// What a dialer must reach: a role's port on a compose service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The compose service, or `None` for "whichever host the address
    /// names" (a generic OTLP exporter).
    pub host: Option<String>,
    pub role: String,
}

impl Target {
    fn exact(host: &str, role: &str) -> Self {
        Self {
            host: Some(host.to_owned()),
            role: role.to_owned(),
        }
    }

    fn dialled_host(role: &str) -> Self {
        Self {
            host: None,
            role: role.to_owned(),
        }
    }
}

/// One address a configuration file dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// The file and setting that dials.
    pub who: String,
    pub address: String,
    /// `None` when this check does not know the dialer: reported, so a new
    /// dialer gets an expectation.
    pub expect: Option<Target>,
}

impl Dial {
    fn new(who: impl Into<String>, address: impl Into<String>, expect: Option<Target>) -> Self {
        Self {
            who: who.into(),
            address: address.into(),
            expect,
        }
    }
}
