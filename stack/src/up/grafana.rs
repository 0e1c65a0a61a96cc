//! Grafana, started when it is installed (it cannot be built here: see
//! versions.yaml). Best effort, and untested on this project's machines:
//! its provisioning is the repository's own, with compose hostnames
//! rewritten to this host.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use super::Launch;
use super::ports::Ports;
use super::roles::Role;
use super::state::StateDir;
use super::targets::rewrite_url;
use crate::executables::on_path;

/// Grafana's admin password: it has no default here.
const ADMIN_PASSWORD: &str = "GF_SECURITY_ADMIN_PASSWORD";

/// An installed Grafana.
#[derive(Debug)]
pub struct Grafana {
    binary: PathBuf,
    /// `grafana server` (new CLI) vs the older `grafana-server`.
    subcommand: bool,
    home: PathBuf,
}

/// Looks for Grafana, its home directory and an admin password in the
/// environment; `Err` says what is missing.
pub fn detect() -> Result<Grafana, String> {
    let (binary, subcommand) = match on_path(&["grafana"]) {
        Some(b) => (b, true),
        None => match on_path(&["grafana-server"]) {
            Some(b) => (b, false),
            None => {
                return Err("not installed: see https://grafana.com/docs/grafana/latest/setup-grafana/installation/ \
                     (Debian: Grafana's apt repository), or run the stack with compose"
                    .into());
            }
        },
    };
    let home = std::env::var_os("GF_PATHS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/grafana"));
    if !home.is_dir() {
        return Err(format!(
            "{} found but its home {} is missing: set GF_PATHS_HOME",
            binary.display(),
            home.display()
        ));
    }
    if std::env::var_os(ADMIN_PASSWORD).is_none() {
        return Err(
            "installed, but GF_SECURITY_ADMIN_PASSWORD is not set (there is no default password)"
                .into(),
        );
    }
    Ok(Grafana {
        binary,
        subcommand,
        home,
    })
}

impl Grafana {
    /// Copies the provisioning with this host's addresses into the state
    /// directory and returns how to start Grafana on it.
    pub fn launch(
        &self,
        repo: &Path,
        state: &StateDir,
        ports: &Ports,
        token: &str,
    ) -> anyhow::Result<Launch> {
        let provisioning = state.root.join("grafana-provisioning");
        copy_rewritten(
            &repo.join("grafana/provisioning"),
            &provisioning,
            ports,
            &repo.join("grafana/dashboards"),
        )?;
        let mut command = Command::new(&self.binary);
        if self.subcommand {
            command.arg("server");
        }
        command
            .arg(format!("--homepath={}", self.home.display()))
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
        // Other components do not inherit it (`Supervised::spawn`).
        if let Some(password) = std::env::var_os(ADMIN_PASSWORD) {
            command.env(ADMIN_PASSWORD, password);
        }
        Ok(Launch {
            name: "grafana",
            role: Role::Grafana,
            listens: vec![Role::Grafana],
            command,
            ready_path: "/api/health",
            show_path: "/",
        })
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
}
