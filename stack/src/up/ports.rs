//! Which port each component gets, and the mapping from the ports written in
//! the repository's configs (the contract's defaults) to the chosen ones.
//!
//! Each chosen port stays bound by `stack` itself ([`Reserved`]) until right
//! before its component is spawned: a port picked for 0 and released early
//! could be taken by another process before the component binds it.

use std::collections::BTreeMap;

use std::net::{IpAddr, SocketAddr, TcpListener};

pub use super::port_error::PortError;
use super::roles::Role;
use crate::cli::UpArgs;

/// The ports of the components that will run.
#[derive(Debug, Clone)]
pub struct Ports {
    pub ip: IpAddr,
    chosen: BTreeMap<Role, u16>,
}

/// A listener on each chosen port, held until the component that uses the
/// port is about to start, so no other process can take it in between.
/// (Std sockets are close-on-exec: components never inherit these.)
#[derive(Debug)]
pub struct Reserved(BTreeMap<Role, TcpListener>);

impl Reserved {
    /// Frees the ports of `roles`; call right before spawning their component.
    pub fn release(&mut self, roles: &[Role]) {
        for role in roles {
            self.0.remove(role);
        }
    }
}

impl Ports {
    /// Resolves every requested role's port (0 becomes a free port) by
    /// binding it, and keeps the listeners as the reservation.
    pub fn choose(args: &UpArgs, roles: &[Role]) -> Result<(Self, Reserved), PortError> {
        let ip = args.bind;
        let mut chosen = BTreeMap::new();
        let mut held = BTreeMap::new();
        // Which role asked for each fixed port: a second one would only
        // find it taken, by this very `stack up`.
        let mut asked: BTreeMap<u16, Role> = BTreeMap::new();
        let mut busy = Vec::new();
        for &role in roles {
            let requested = requested(args, role)?;
            if requested != 0
                && let Some(first) = asked.insert(requested, role)
            {
                return Err(PortError::Twice {
                    port: requested,
                    first: first.flag(),
                    second: role.flag(),
                });
            }
            let bind_error = |e| PortError::from_bind(ip, requested, role, e);
            let listener = match TcpListener::bind(SocketAddr::new(ip, requested)) {
                Ok(listener) => listener,
                // Every busy port is named in one go.
                Err(e) => match bind_error(e) {
                    PortError::InUse { busy: one, .. } => {
                        busy.extend(one);
                        continue;
                    }
                    error => return Err(error),
                },
            };
            let port = listener.local_addr().map_err(bind_error)?.port();
            held.insert(role, listener);
            chosen.insert(role, port);
        }
        if !busy.is_empty() {
            return Err(PortError::InUse { ip, busy });
        }
        Ok((Self { ip, chosen }, Reserved(held)))
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

    /// The service instances' roles, first replica first.
    pub fn services(&self) -> Vec<Role> {
        self.chosen
            .keys()
            .copied()
            .filter(|role| matches!(role, Role::Service(_)))
            .collect()
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

    /// The inbox's `INBOX_RUNBOOK_LINKS`: each component the runbook names
    /// on its default port (`127.0.0.1:9090`, `localhost:3000`), moved to
    /// where it runs.
    pub fn runbook_links(&self) -> String {
        let host = self.host();
        self.chosen
            .iter()
            .filter(|&(&role, &port)| {
                Role::for_default_port(role.default_port()) == Some(role)
                    && port != role.default_port()
            })
            .flat_map(|(role, port)| {
                let default = role.default_port();
                ["127.0.0.1", "localhost"].map(|name| format!("{name}:{default}={host}:{port}"))
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The port asked for `role`: its flag plus `--port-offset` (0, a free
/// port, stays 0).
fn requested(args: &UpArgs, role: Role) -> Result<u16, PortError> {
    let port = match role {
        // Replicas take the ports after the first one's (or free ports).
        Role::Service(replica) if args.service_port != 0 => {
            args.service_port.saturating_add(replica.offset())
        }
        Role::Service(_) => 0,
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
        Role::TempoHttp => args.tempo_port,
        Role::TempoOtlp | Role::TempoGrpc => 0,
    };
    if port == 0 {
        return Ok(0);
    }
    port.checked_add(args.port_offset)
        .ok_or(PortError::PastTheEnd {
            port,
            offset: args.port_offset,
            flag: role.flag(),
        })
}

/// Free ports for `roles` (each role's flag set to 0), for the tests of the
/// modules that rewrite configs with them.
#[cfg(test)]
pub(crate) fn free_ports(roles: &[Role]) -> Ports {
    // Tempo's internal ports have no flag: they are always free ports.
    let flags: Vec<&str> = roles
        .iter()
        .map(|role| role.flag())
        .filter(|flag| flag.starts_with("--"))
        .flat_map(|flag| [flag, "0"])
        .collect();
    Ports::choose(&tests::args(&flags), roles)
        .expect("free ports")
        .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::up::roles::Replica;
    use clap::Parser as _;
    use std::io::ErrorKind;

    pub(super) fn args(extra: &[&str]) -> UpArgs {
        let mut argv = vec!["stack", "up"];
        argv.extend_from_slice(extra);
        let Command::Up(args) = Cli::parse_from(argv).command else {
            unreachable!("up subcommand")
        };
        *args
    }

    #[test]
    fn the_runbook_links_follow_moved_components() {
        let ports = free_ports(&[Role::Prometheus, Role::Inbox]);
        let links = ports.runbook_links();
        let prometheus = ports.get(Role::Prometheus).expect("port");
        assert!(
            links.contains(&format!("127.0.0.1:9090=127.0.0.1:{prometheus}"))
                && links.contains(&format!("localhost:9090=127.0.0.1:{prometheus}")),
            "{links}"
        );
        assert_eq!(links.split(',').count(), 4, "{links}");
    }

    #[test]
    fn the_port_offset_moves_every_fixed_port() {
        let moved = args(&["--port-offset", "10000", "--inbox-port", "0"]);
        assert_eq!(requested(&moved, Role::Prometheus).expect("port"), 19090);
        assert_eq!(
            requested(&moved, Role::Service(Replica::FIRST)).expect("port"),
            15000
        );
        assert_eq!(
            requested(&moved, Role::Inbox).expect("port"),
            0,
            "a free port"
        );
        let past = args(&["--port-offset", "60000"]);
        assert_eq!(requested(&past, Role::Grafana).expect("port"), 63000);
        let error = requested(&past, Role::CollectorHealth)
            .expect_err("13133 + 60000 is past 65535")
            .to_string();
        assert!(error.contains("--collector-health-port"), "{error}");
    }

    #[test]
    fn one_port_given_to_two_flags_is_named_as_such() {
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = free.local_addr().expect("addr").port();
        drop(free);
        let flags = [
            "--service-port",
            &port.to_string(),
            "--inbox-port",
            &port.to_string(),
        ];
        let error = Ports::choose(&args(&flags), &[Role::Service(Replica::FIRST), Role::Inbox])
            .expect_err("the same port twice");
        assert!(
            matches!(
                error,
                PortError::Twice {
                    first: "--service-port",
                    second: "--inbox-port",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn a_taken_port_is_reported_as_in_use() {
        let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = holder.local_addr().expect("addr").port().to_string();
        let error = Ports::choose(&args(&["--inbox-port", &port]), &[Role::Inbox])
            .expect_err("port is taken");
        assert!(
            matches!(&error, PortError::InUse { busy, .. } if busy[0].flag == "--inbox-port"),
            "{error}"
        );
        // No Debian unit holds the inbox's port: no systemctl advice (the
        // units that do are named only when installed: port_error.rs).
        assert!(!error.to_string().contains("systemctl"), "{error}");
    }

    #[test]
    fn every_taken_port_is_named_in_one_error() {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind");
        let second = TcpListener::bind("127.0.0.1:0").expect("bind");
        let [first, second] =
            [&first, &second].map(|held| held.local_addr().expect("addr").port().to_string());
        let flags = [
            "--inbox-port",
            &first,
            "--node-exporter-port",
            &second,
            "--prometheus-port",
            "0",
        ];
        let error = Ports::choose(
            &args(&flags),
            &[Role::Inbox, Role::NodeExporter, Role::Prometheus],
        )
        .expect_err("two ports are taken");
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "ports {first} (--inbox-port), {second} (--node-exporter-port)"
            )),
            "{message}"
        );
        assert!(
            message.contains("`--inbox-port 0 --node-exporter-port 0`"),
            "{message}"
        );
    }

    #[test]
    fn a_foreign_bind_address_is_reported_as_not_local() {
        // 192.0.2.0/24 is TEST-NET-1: documentation only, never on a host.
        let error = Ports::choose(
            &args(&["--bind", "192.0.2.1", "--service-port", "0"]),
            &[Role::Service(Replica::FIRST)],
        )
        .expect_err("not a local address");
        assert!(matches!(error, PortError::NotLocal { .. }), "{error}");
        assert!(error.to_string().contains("--bind"), "{error}");
    }

    #[test]
    fn permission_denied_below_1024_names_the_cause() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let denied = || std::io::Error::from(ErrorKind::PermissionDenied);
        let error = PortError::from_bind(ip, 80, Role::Grafana, denied());
        assert!(
            matches!(error, PortError::Privileged { port: 80, .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("below 1024 need root"),
            "{error}"
        );
        let error = PortError::from_bind(ip, 8080, Role::Grafana, denied());
        assert!(matches!(error, PortError::Other { .. }), "{error}");
    }
}
