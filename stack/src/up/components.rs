//! The five core components and how each is started: flags instead of
//! config defaults (Debian's binaries would otherwise look in /etc and
//! /var/lib), and the HTTP path that tells it is ready.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::ports::Ports;
use super::roles::{Replica, Role};
use super::state::StateDir;

/// A component to start: how, and how to tell it is ready.
pub struct Launch {
    pub name: &'static str,
    /// The role whose port serves `ready_path`.
    pub role: Role,
    /// Every port it listens on: their reservations are released right
    /// before it starts.
    pub listens: Vec<Role>,
    pub command: Command,
    /// Path polled until it answers 2xx.
    pub ready_path: &'static str,
    /// Path printed for humans.
    pub show_path: &'static str,
}

/// Where the core programs are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub service: PathBuf,
    pub inbox: PathBuf,
    pub prometheus: PathBuf,
    pub node_exporter: PathBuf,
    pub alertmanager: PathBuf,
}

/// The core components in start order: receivers before senders (inbox,
/// service, node_exporter, Alertmanager, then Prometheus, which scrapes and
/// alerts into the others).
pub fn core(
    bins: &Binaries,
    ports: &Ports,
    state: &StateDir,
    token: &str,
    prom_config: &Path,
    am_config: &Path,
    replicas: u8,
) -> anyhow::Result<Vec<Launch>> {
    let addr = |role| ports.addr(role).map(|a| a.to_string()).unwrap_or_default();
    let mut launches = Vec::new();

    let mut inbox = Command::new(&bins.inbox);
    inbox
        .arg("--listen")
        .arg(addr(Role::Inbox))
        .env("INBOX_TOKEN", token)
        .env("INBOX_RUNBOOK_LINKS", ports.runbook_links());
    launches.push(Launch {
        name: "inbox",
        role: Role::Inbox,
        listens: vec![Role::Inbox],
        command: inbox,
        ready_path: "/healthz",
        show_path: "/",
    });

    for replica in Replica::all(replicas) {
        let role = Role::Service(replica);
        let mut service = Command::new(&bins.service);
        service.arg("--listen").arg(addr(role));
        match ports.url(Role::OtlpGrpc) {
            Some(endpoint) => {
                service.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
            }
            // No Collector: keep the service from retrying an absent endpoint,
            // unless the operator chose an exporter setting themselves.
            None if std::env::var_os("OTEL_TRACES_EXPORTER").is_none() => {
                service.env("OTEL_TRACES_EXPORTER", "none");
            }
            None => {}
        }
        launches.push(Launch {
            name: replica.name(replicas),
            role,
            listens: vec![role],
            command: service,
            ready_path: "/readyz",
            show_path: "/",
        });
    }

    let mut node = Command::new(&bins.node_exporter);
    node.arg(format!("--web.listen-address={}", addr(Role::NodeExporter)));
    launches.push(Launch {
        name: "node_exporter",
        role: Role::NodeExporter,
        listens: vec![Role::NodeExporter],
        command: node,
        ready_path: "/metrics",
        show_path: "/metrics",
    });

    let mut am = Command::new(&bins.alertmanager);
    am.arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            state.data("alertmanager")?.display()
        ))
        .arg(format!("--web.listen-address={}", addr(Role::Alertmanager)))
        // Links in notifications (externalURL) name the address printed here,
        // not the machine's hostname.
        .arg(format!(
            "--web.external-url={}",
            ports.url(Role::Alertmanager).unwrap_or_default()
        ))
        // Empty disables the gossip cluster (default 0.0.0.0:9094).
        .arg("--cluster.listen-address=");
    launches.push(Launch {
        name: "alertmanager",
        role: Role::Alertmanager,
        listens: vec![Role::Alertmanager],
        command: am,
        ready_path: "/-/ready",
        show_path: "/",
    });

    let mut prom = Command::new(&bins.prometheus);
    prom.arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            state.data("prometheus")?.display()
        ))
        .arg(format!("--web.listen-address={}", addr(Role::Prometheus)))
        // An alert's generatorURL links back to this address.
        .arg(format!(
            "--web.external-url={}",
            ports.url(Role::Prometheus).unwrap_or_default()
        ))
        // As in compose: keeps the trace ids the Collector attaches to span
        // metrics, so a latency point links to its trace.
        .arg("--enable-feature=exemplar-storage");
    launches.push(Launch {
        name: "prometheus",
        role: Role::Prometheus,
        listens: vec![Role::Prometheus],
        command: prom,
        ready_path: "/-/ready",
        show_path: "/",
    });

    Ok(launches)
}
