//! Rewriting `host:port` strings from the compose world to this host.
//!
//! The repository's configs name compose services (`service:5000`,
//! `node-exporter:9100`, `http://inbox:5080/...`). Natively every component
//! runs on one address, so a target is identified by its port, which the
//! contract fixes per component.

use std::net::SocketAddr;

use super::ports::Ports;

/// What became of one `host:port` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewritten {
    /// The component runs here, at this address.
    Local(SocketAddr),
    /// The component does not run here: drop the target.
    NotRunning,
    /// Not a port we know: leave it alone.
    Unknown,
}

/// Maps `host:port` to where that component runs natively.
pub fn rewrite_target(target: &str, ports: &Ports) -> Rewritten {
    let Some(port) = target
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
    else {
        return Rewritten::Unknown;
    };
    match ports.remap(port) {
        Some(addr) => Rewritten::Local(addr),
        None if is_known_port(port) => Rewritten::NotRunning,
        None => Rewritten::Unknown,
    }
}

/// Rewrites the authority of an `http://host:port/path` URL; `None` when the
/// URL has no recognisable authority or its component is not running here.
pub fn rewrite_url(url: &str, ports: &Ports) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match rewrite_target(authority, ports) {
        Rewritten::Local(addr) => Some(format!("{scheme}://{addr}{path}")),
        _ => None,
    }
}

fn is_known_port(port: u16) -> bool {
    use super::ports::Role::*;
    [
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
    ]
    .iter()
    .any(|r| r.default_port() == port)
}
