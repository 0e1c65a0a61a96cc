//! Grafana and the OpenTelemetry Collector, started only when their binaries
//! are on PATH. Best effort, and untested on this project's build machines
//! (neither is packaged by Debian): the configs are the repository's own,
//! with compose hostnames rewritten to this host. Tempo does not run
//! natively, so the Collector's trace export and Grafana's Tempo datasource
//! have nothing to talk to.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use super::Launch;
use super::binaries::on_path;
use super::ports::{Ports, Role};
use super::state::StateDir;
use super::targets::rewrite_url;

/// Every port the Collector listens on.
pub const COLLECTOR_ROLES: [Role; 5] = [
    Role::OtlpGrpc,
    Role::OtlpHttp,
    Role::CollectorMetrics,
    Role::Spanmetrics,
    Role::CollectorHealth,
];

/// The optional components found on this host.
#[derive(Debug, Default)]
pub struct Extras {
    grafana: Option<Grafana>,
    otelcol: Option<PathBuf>,
}

#[derive(Debug)]
struct Grafana {
    binary: PathBuf,
    /// `grafana server` (new CLI) vs the older `grafana-server`.
    subcommand: bool,
    home: PathBuf,
}

/// Looks for Grafana (with its home directory and an admin password in the
/// environment) and `otelcol-contrib`.
pub fn detect() -> Extras {
    let grafana = grafana();
    let otelcol = on_path(&["otelcol-contrib"]);
    Extras { grafana, otelcol }
}

fn grafana() -> Option<Grafana> {
    let (binary, subcommand) = match on_path(&["grafana"]) {
        Some(b) => (b, true),
        None => (on_path(&["grafana-server"])?, false),
    };
    let home = std::env::var_os("GF_PATHS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/grafana"));
    if !home.is_dir() {
        eprintln!(
            "stack: {} found but its home {} is missing (set GF_PATHS_HOME); skipping Grafana",
            binary.display(),
            home.display()
        );
        return None;
    }
    if std::env::var_os("GF_SECURITY_ADMIN_PASSWORD").is_none() {
        eprintln!(
            "stack: Grafana found; set GF_SECURITY_ADMIN_PASSWORD to start it (no default password)"
        );
        return None;
    }
    Some(Grafana {
        binary,
        subcommand,
        home,
    })
}

impl Extras {
    pub fn roles(&self) -> Vec<Role> {
        let mut roles = Vec::new();
        if self.grafana.is_some() {
            roles.push(Role::Grafana);
        }
        if self.otelcol.is_some() {
            roles.extend(COLLECTOR_ROLES);
        }
        roles
    }

    /// Generates their configs and returns how to start them.
    pub fn launches(
        &self,
        repo: &Path,
        state: &StateDir,
        ports: &Ports,
        token: &str,
    ) -> anyhow::Result<Vec<Launch>> {
        let mut launches = Vec::new();
        if let Some(binary) = &self.otelcol {
            let source = std::fs::read_to_string(repo.join("otel-collector/config.yaml"))
                .context("reading otel-collector/config.yaml")?;
            let config = state.file("otelcol.yaml");
            std::fs::write(&config, rewrite_listen_addresses(&source, ports))
                .with_context(|| format!("writing {}", config.display()))?;
            let mut command = Command::new(binary);
            command.arg(format!("--config={}", config.display()));
            launches.push(Launch {
                name: "otelcol",
                role: Role::CollectorHealth,
                listens: &COLLECTOR_ROLES,
                command,
                ready_path: "/",
                show_path: "/",
            });
        }
        if let Some(grafana) = &self.grafana {
            let provisioning = state.root.join("grafana-provisioning");
            copy_rewritten(
                &repo.join("grafana/provisioning"),
                &provisioning,
                ports,
                &repo.join("grafana/dashboards"),
            )?;
            let mut command = Command::new(&grafana.binary);
            if grafana.subcommand {
                command.arg("server");
            }
            command
                .arg(format!("--homepath={}", grafana.home.display()))
                .env("GF_PATHS_PROVISIONING", &provisioning)
                .env("GF_PATHS_DATA", state.data("grafana")?)
                .env("GF_PATHS_LOGS", state.root.join("logs"))
                .env("GF_SERVER_HTTP_ADDR", ports.ip.to_string())
                .env(
                    "GF_SERVER_HTTP_PORT",
                    ports.get(Role::Grafana).unwrap_or(3000).to_string(),
                )
                .env("GF_AUTH_ANONYMOUS_ENABLED", "false")
                .env("INBOX_TOKEN", token);
            launches.push(Launch {
                name: "grafana",
                role: Role::Grafana,
                listens: &[Role::Grafana],
                command,
                ready_path: "/api/health",
                show_path: "/",
            });
        }
        Ok(launches)
    }
}

/// Copies the provisioning tree, rewriting `http://host:port` URLs to local
/// components and the container's dashboard folder to the repository's.
fn copy_rewritten(from: &Path, to: &Path, ports: &Ports, dashboards: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_rewritten(&src, &dst, ports, dashboards)?;
            continue;
        }
        let text =
            std::fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
        let text = rewrite_urls(&text, ports)
            .replace("/etc/grafana/dashboards", &dashboards.to_string_lossy());
        std::fs::write(&dst, text).with_context(|| format!("writing {}", dst.display()))?;
    }
    Ok(())
}

/// Rewrites every `http://host:port...` URL whose component runs here.
fn rewrite_urls(text: &str, ports: &Ports) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("http://") {
        out.push_str(&rest[..i]);
        let url_len = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ')'))
            .unwrap_or(rest.len() - i);
        let url = &rest[i..i + url_len];
        out.push_str(&rewrite_url(url, ports).unwrap_or_else(|| url.to_owned()));
        rest = &rest[i + url_len..];
    }
    out.push_str(rest);
    out
}

/// The Collector listens on `0.0.0.0:<port>` / `localhost:<port>` in its
/// config; point those at this stack's address and chosen ports.
fn rewrite_listen_addresses(text: &str, ports: &Ports) -> String {
    let mut out = text.to_owned();
    for role in COLLECTOR_ROLES {
        let Some(addr) = ports.addr(role) else {
            continue;
        };
        for host in ["0.0.0.0", "localhost", "127.0.0.1", "otel-collector"] {
            out = out.replace(
                &format!("{host}:{}", role.default_port()),
                &addr.to_string(),
            );
        }
    }
    // The Collector's own metrics reader takes host and port separately.
    if let Some(metrics) = ports.get(Role::CollectorMetrics) {
        out = out
            .replace("port: 8888", &format!("port: {metrics}"))
            .replace("host: 0.0.0.0", &format!("host: {}", ports.ip));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::up::ports::free_ports;

    #[test]
    fn rewrites_datasource_urls_but_not_absent_components() {
        let ports = free_ports(&[Role::Prometheus]);
        let prometheus = ports.addr(Role::Prometheus).expect("prometheus");
        let text = "url: http://prometheus:9090\nurl: \"http://tempo:3200\"\n";
        assert_eq!(
            rewrite_urls(text, &ports),
            format!("url: http://{prometheus}\nurl: \"http://tempo:3200\"\n")
        );
    }

    #[test]
    fn rewrites_collector_listen_addresses() {
        let ports = free_ports(&[Role::OtlpGrpc, Role::CollectorMetrics]);
        let grpc = ports.addr(Role::OtlpGrpc).expect("grpc");
        let metrics = ports.get(Role::CollectorMetrics).expect("metrics");
        let text = "endpoint: 0.0.0.0:4317\nexporter: tempo:4317\nhost: 0.0.0.0\nport: 8888\n";
        assert_eq!(
            rewrite_listen_addresses(text, &ports),
            format!("endpoint: {grpc}\nexporter: tempo:4317\nhost: 127.0.0.1\nport: {metrics}\n")
        );
    }
}
