//! Rewriting `host:port` strings from the compose world to this host.
//!
//! The repository's configs name compose services (`service:5000`,
//! `node-exporter:9100`, `http://inbox:5080/...`). Natively every component
//! runs on one address, so a target is identified by its port, which the
//! contract fixes per component.

use std::net::SocketAddr;

use super::ports::Ports;
use super::roles::Role;

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
        None if Role::for_default_port(port).is_some() => Rewritten::NotRunning,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::up::roles::Replica;
    use clap::Parser;

    fn inbox_and_service() -> Ports {
        let Command::Up(args) =
            Cli::parse_from(["stack", "up", "--inbox-port", "0", "--service-port", "0"]).command
        else {
            unreachable!()
        };
        Ports::choose(&args, &[Role::Inbox, Role::Service(Replica::FIRST)])
            .expect("ports")
            .0
    }

    #[test]
    fn maps_by_contract_port() {
        let ports = inbox_and_service();
        let service = ports.addr(Role::Service(Replica::FIRST)).expect("service");
        assert_eq!(
            rewrite_target("service:5000", &ports),
            Rewritten::Local(service)
        );
        assert_eq!(
            rewrite_target("node-exporter:9100", &ports),
            Rewritten::NotRunning
        );
        assert_eq!(
            rewrite_target("example.org:1234", &ports),
            Rewritten::Unknown
        );
        assert_eq!(rewrite_target("no-port", &ports), Rewritten::Unknown);
    }

    #[test]
    fn rewrites_url_authority_only() {
        let ports = inbox_and_service();
        let inbox = ports.addr(Role::Inbox).expect("inbox");
        assert_eq!(
            rewrite_url("http://inbox:5080/api/notifications", &ports),
            Some(format!("http://{inbox}/api/notifications"))
        );
        assert_eq!(rewrite_url("http://tempo:3200", &ports), None);
        assert_eq!(rewrite_url("not a url", &ports), None);
    }
}
