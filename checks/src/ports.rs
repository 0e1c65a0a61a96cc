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

mod dials;
mod listens;
mod nginx;

use std::path::Path;

use serde_json::Value;

use crate::compose::{container_ports, services};
use crate::files::{list, load_yaml, load_yaml_with_env_defaults, read};
use crate::{CheckError, Problem};

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
