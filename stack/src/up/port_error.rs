//! Why a port `stack up` chose cannot be used, in words that say what to do.

use std::io::ErrorKind;
use std::net::IpAddr;

use super::roles::Role;

/// A chosen port cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error(
        "port {port} ({flag}) on {ip} is already in use: stop what holds it (another \
         `stack up`? `ss -ltnp 'sport = :{port}'` names the process){hint}, or pass {flag} <PORT> \
         (0 = any free port)"
    )]
    InUse {
        ip: IpAddr,
        port: u16,
        flag: &'static str,
        /// For the ports Debian's packages take: how to stop their services.
        hint: &'static str,
    },
    #[error(
        "port {port} is asked for by both {first} and {second}: give each its own port \
         (0 = any free port)"
    )]
    Twice {
        port: u16,
        first: &'static str,
        second: &'static str,
    },
    #[error(
        "cannot listen on {ip}: it is not an address of this host ({source}); \
         pass --bind / STACK_BIND with one of its addresses (see `ip -brief address`), e.g. 127.0.0.1"
    )]
    NotLocal { ip: IpAddr, source: std::io::Error },
    #[error(
        "port {port} ({flag}) on {ip}: ports below 1024 need root (or CAP_NET_BIND_SERVICE); \
         pass {flag} with a port from 1024 up (0 = any free port)"
    )]
    Privileged {
        ip: IpAddr,
        port: u16,
        flag: &'static str,
    },
    #[error("cannot listen on {ip} port {port} ({flag}, 0 = any free port): {source}")]
    Other {
        ip: IpAddr,
        port: u16,
        flag: &'static str,
        source: std::io::Error,
    },
}

impl PortError {
    pub(super) fn from_bind(ip: IpAddr, port: u16, role: Role, source: std::io::Error) -> Self {
        let flag = role.flag();
        match source.kind() {
            ErrorKind::AddrInUse => PortError::InUse {
                ip,
                port,
                flag,
                hint: debian_unit_hint(role),
            },
            ErrorKind::AddrNotAvailable => PortError::NotLocal { ip, source },
            ErrorKind::PermissionDenied if (1..1024).contains(&port) => {
                PortError::Privileged { ip, port, flag }
            }
            _ => PortError::Other {
                ip,
                port,
                flag,
                source,
            },
        }
    }
}

/// How to stop the system service a Debian package starts on a role's port.
fn debian_unit_hint(role: Role) -> &'static str {
    match role {
        Role::Prometheus => {
            "; Debian's package runs one: `sudo systemctl disable --now prometheus`"
        }
        Role::NodeExporter => {
            "; Debian's package runs one: `sudo systemctl disable --now prometheus-node-exporter`"
        }
        Role::Alertmanager => {
            "; Debian's package runs one: `sudo systemctl disable --now prometheus-alertmanager`"
        }
        _ => "",
    }
}
