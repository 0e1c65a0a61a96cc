//! Which port each component gets, and the mapping from the ports written in
//! the repository's configs (the contract's defaults) to the chosen ones.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener};

use crate::cli::UpArgs;

/// A port role: the contract's default port, and the flag that overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Service,
    Inbox,
    NodeExporter,
    Prometheus,
    Alertmanager,
    Grafana,
    OtlpGrpc,
    OtlpHttp,
    CollectorMetrics,
    Spanmetrics,
    CollectorHealth,
}

impl Role {
    /// The port the repository's configs (and compose) use for this role.
    pub fn default_port(self) -> u16 {
        match self {
            Role::Service => 5000,
            Role::Inbox => 5080,
            Role::NodeExporter => 9100,
            Role::Prometheus => 9090,
            Role::Alertmanager => 9093,
            Role::Grafana => 3000,
            Role::OtlpGrpc => 4317,
            Role::OtlpHttp => 4318,
            Role::CollectorMetrics => 8888,
            Role::Spanmetrics => 8889,
            Role::CollectorHealth => 13133,
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Role::Service => "--service-port",
            Role::Inbox => "--inbox-port",
            Role::NodeExporter => "--node-exporter-port",
            Role::Prometheus => "--prometheus-port",
            Role::Alertmanager => "--alertmanager-port",
            Role::Grafana => "--grafana-port",
            Role::OtlpGrpc => "--otlp-grpc-port",
            Role::OtlpHttp => "--otlp-http-port",
            Role::CollectorMetrics => "--collector-metrics-port",
            Role::Spanmetrics => "--spanmetrics-port",
            Role::CollectorHealth => "--collector-health-port",
        }
    }

    /// The role whose contract port is `port`, if any.
    pub fn for_default_port(port: u16) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.default_port() == port)
    }

    const ALL: [Role; 11] = [
        Role::Service,
        Role::Inbox,
        Role::NodeExporter,
        Role::Prometheus,
        Role::Alertmanager,
        Role::Grafana,
        Role::OtlpGrpc,
        Role::OtlpHttp,
        Role::CollectorMetrics,
        Role::Spanmetrics,
        Role::CollectorHealth,
    ];
}

/// A chosen port is taken.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error(
        "port {port} ({flag}) on {ip} is already in use: stop what holds it \
         (a system service from the Debian package? `sudo systemctl stop prometheus \
         prometheus-node-exporter prometheus-alertmanager`) or pass {flag} <PORT> (0 = any free port)"
    )]
    InUse {
        ip: IpAddr,
        port: u16,
        flag: &'static str,
    },
    #[error("cannot find a free port on {0}: {1}")]
    NoFree(IpAddr, std::io::Error),
}

/// The ports of the components that will run.
#[derive(Debug, Clone)]
pub struct Ports {
    pub ip: IpAddr,
    chosen: BTreeMap<Role, u16>,
}

impl Ports {
    /// Resolves every requested role's port: 0 becomes a free port, any other
    /// value must be free now (checked by binding it briefly).
    /// A port picked for 0 could be taken by another process before the
    /// component binds it; that race is rare and the readiness check reports it.
    pub fn choose(args: &UpArgs, roles: &[Role]) -> Result<Self, PortError> {
        let ip = args.bind;
        let mut chosen = BTreeMap::new();
        // Held until every port is chosen so two roles never get the same one.
        let mut held = Vec::new();
        for &role in roles {
            let requested = requested(args, role);
            let listener = if requested == 0 {
                TcpListener::bind(SocketAddr::new(ip, 0)).map_err(|e| PortError::NoFree(ip, e))?
            } else {
                TcpListener::bind(SocketAddr::new(ip, requested)).map_err(|_| PortError::InUse {
                    ip,
                    port: requested,
                    flag: role.flag(),
                })?
            };
            let port = listener
                .local_addr()
                .map_err(|e| PortError::NoFree(ip, e))?
                .port();
            held.push(listener);
            chosen.insert(role, port);
        }
        Ok(Self { ip, chosen })
    }

    /// The chosen port of a running role.
    pub fn get(&self, role: Role) -> Option<u16> {
        self.chosen.get(&role).copied()
    }

    /// `ip:port` of a role, for listen flags and targets.
    pub fn addr(&self, role: Role) -> Option<SocketAddr> {
        self.get(role).map(|p| SocketAddr::new(self.ip, p))
    }

    /// Maps a port written in the repository's configs to the running
    /// component's address; `None` when that component does not run here.
    pub fn remap(&self, config_port: u16) -> Option<SocketAddr> {
        Role::for_default_port(config_port).and_then(|r| self.addr(r))
    }

    /// The host part for URLs (`127.0.0.1`, `[::1]`).
    pub fn host(&self) -> String {
        match self.ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        }
    }

    /// `http://host:port` of a role.
    pub fn url(&self, role: Role) -> Option<String> {
        self.get(role)
            .map(|p| format!("http://{}:{p}", self.host()))
    }
}

fn requested(args: &UpArgs, role: Role) -> u16 {
    match role {
        Role::Service => args.service_port,
        Role::Inbox => args.inbox_port,
        Role::NodeExporter => args.node_exporter_port,
        Role::Prometheus => args.prometheus_port,
        Role::Alertmanager => args.alertmanager_port,
        Role::Grafana => args.grafana_port,
        Role::OtlpGrpc => args.otlp_grpc_port,
        Role::OtlpHttp => args.otlp_http_port,
        Role::CollectorMetrics => args.collector_metrics_port,
        Role::Spanmetrics => args.spanmetrics_port,
        Role::CollectorHealth => args.collector_health_port,
    }
}
