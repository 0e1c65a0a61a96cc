//! Why a port `stack up` chose cannot be used, in words that say what to do.

use std::io::ErrorKind;
use std::net::IpAddr;
use std::path::Path;

use super::roles::Role;

/// A port another process holds, and the flag that asked for it.
#[derive(Debug)]
pub struct Busy {
    pub port: u16,
    pub flag: &'static str,
    /// The systemd unit of an installed Debian package that listens on
    /// this role's default port.
    unit: Option<&'static str>,
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
    #[error(
        "{flag} {port} plus --port-offset {offset} is past the last port (65535): give a \
         smaller offset, or {flag} on its own"
    )]
    PastTheEnd {
        port: u16,
        offset: u16,
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
                    unit: debian_unit(role, Path::new(SYSTEMD_UNITS)),
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
    let units: Vec<&str> = busy.iter().filter_map(|b| b.unit).collect();
    let hints = if units.is_empty() {
        String::new()
    } else {
        format!(
            "; Debian's packages installed here run on these ports: `sudo systemctl disable --now {}`",
            units.join(" ")
        )
    };
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
         or pass other ports, e.g. `{}` (0 = any free port), or move them all with \
         --port-offset (e.g. 10000)",
        if busy.len() == 1 { "is" } else { "are" },
        if busy.len() == 1 { "it" } else { "them" },
        moves.join(" ")
    )
}

/// Where Debian's packages install their systemd units.
const SYSTEMD_UNITS: &str = "/lib/systemd/system";

/// The unit of the Debian package that listens on a role's default port,
/// if that package is installed (its unit file is in `units`).
fn debian_unit(role: Role, units: &Path) -> Option<&'static str> {
    let unit = match role {
        Role::Prometheus => "prometheus",
        Role::NodeExporter => "prometheus-node-exporter",
        Role::Alertmanager => "prometheus-alertmanager",
        _ => return None,
    };
    units
        .join(format!("{unit}.service"))
        .exists()
        .then_some(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_installed_debian_packages_are_named() {
        let units = tempfile::tempdir().expect("tempdir");
        std::fs::write(units.path().join("prometheus.service"), "").expect("unit");
        let busy = |role: Role, port| Busy {
            port,
            flag: role.flag(),
            unit: debian_unit(role, units.path()),
        };
        let ip = IpAddr::from([127, 0, 0, 1]);
        let message = in_use_message(
            ip,
            &[busy(Role::Prometheus, 9090), busy(Role::NodeExporter, 9100)],
        );
        assert!(
            message.contains("`sudo systemctl disable --now prometheus`"),
            "{message}"
        );
        assert!(!message.contains("prometheus-node-exporter"), "{message}");
        let message = in_use_message(ip, &[busy(Role::NodeExporter, 9100)]);
        assert!(!message.contains("systemctl"), "{message}");
    }
}
