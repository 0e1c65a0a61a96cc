//! Why a port `stack up` chose cannot be used, in words that say what to do.

use std::io::ErrorKind;
use std::net::IpAddr;

use super::roles::Role;

/// A port another process holds, and the flag that asked for it.
#[derive(Debug)]
pub struct Busy {
    pub port: u16,
    pub flag: &'static str,
    /// For the ports Debian's packages take: how to stop their services.
    hint: &'static str,
}

/// A chosen port cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Ports other processes hold, all of them (one run names every busy
    /// port, not one per try).
    #[error("{}", in_use_message(*ip, busy))]
    InUse { ip: IpAddr, busy: Vec<Busy> },
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
                busy: vec![Busy {
                    port,
                    flag,
                    hint: debian_unit_hint(role),
                }],
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

/// Names every busy port and the flags that move them, ready to paste.
fn in_use_message(ip: IpAddr, busy: &[Busy]) -> String {
    let ports: Vec<String> = busy
        .iter()
        .map(|b| format!("{} ({})", b.port, b.flag))
        .collect();
    let mut flags: Vec<&str> = busy.iter().map(|b| b.flag).collect();
    flags.dedup();
    let moves: Vec<String> = flags.iter().map(|flag| format!("{flag} 0")).collect();
    let hints: String = busy.iter().map(|b| b.hint).collect();
    let (what, them) = match busy {
        [one] => (
            format!("port {}", ports[0]),
            format!("`ss -ltnp 'sport = :{}'` names the process", one.port),
        ),
        _ => (
            format!("ports {}", ports.join(", ")),
            "`ss -ltnp` names the processes".to_owned(),
        ),
    };
    format!(
        "{what} on {ip} {} already in use: stop what holds {} (another `stack up`? {them}){hints}, \
         or pass other ports, e.g. `{}` (0 = any free port)",
        if busy.len() == 1 { "is" } else { "are" },
        if busy.len() == 1 { "it" } else { "them" },
        moves.join(" ")
    )
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
