//! The Debian-packaged components, and installing them when allowed.
//!
//! Debian's binaries read no config unless told: `stack up` passes every path
//! and address as flags, so `/etc/default/*` and the packages' systemd units
//! play no part. Installing the packages on a systemd host also starts their
//! system services on the default ports; the port check then says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::binaries::on_path;

/// A component shipped by a Debian package.
#[derive(Debug, Clone, Copy)]
pub struct DebianTool {
    pub package: &'static str,
    /// Names to look for on PATH (Debian's name first).
    pub binaries: &'static [&'static str],
}

pub const PROMETHEUS: DebianTool = DebianTool {
    package: "prometheus",
    binaries: &["prometheus"],
};
pub const NODE_EXPORTER: DebianTool = DebianTool {
    package: "prometheus-node-exporter",
    binaries: &["prometheus-node-exporter", "node_exporter"],
};
pub const ALERTMANAGER: DebianTool = DebianTool {
    package: "prometheus-alertmanager",
    binaries: &["prometheus-alertmanager", "alertmanager"],
};

/// Packages are missing and we may not (or could not) install them.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "missing {packages}; install them with:\n    {command}\n(or pass --prometheus-bin / --node-exporter-bin / --alertmanager-bin)"
    )]
    NotAllowed { packages: String, command: String },
    #[error("`{command}` failed ({status}); run it yourself and retry")]
    Failed { command: String, status: String },
    #[error("{package}: {path} does not exist (check the --*-bin flag / STACK_*_BIN variable)")]
    BadPath {
        package: &'static str,
        path: PathBuf,
    },
    #[error("installed {0} but its binary is still not found")]
    StillMissing(&'static str),
}

/// Resolves each tool to a binary (explicit path first), installing missing
/// packages with apt-get when running as root or with passwordless sudo.
pub fn ensure(
    tools: &[(DebianTool, Option<&Path>)],
    may_install: bool,
) -> Result<Vec<PathBuf>, InstallError> {
    for (tool, explicit) in tools {
        if let Some(path) = explicit
            && !path.is_file()
        {
            return Err(InstallError::BadPath {
                package: tool.package,
                path: path.to_path_buf(),
            });
        }
    }
    let find = |tool: &DebianTool, explicit: Option<&Path>| match explicit {
        Some(p) => Some(p.to_owned()),
        None => on_path(tool.binaries),
    };
    let missing: Vec<&'static str> = tools
        .iter()
        .filter(|(tool, explicit)| find(tool, *explicit).is_none())
        .map(|(tool, _)| tool.package)
        .collect();
    if !missing.is_empty() {
        install(&missing, may_install)?;
    }
    tools
        .iter()
        .map(|(tool, explicit)| {
            find(tool, *explicit).ok_or(InstallError::StillMissing(tool.package))
        })
        .collect()
}

fn install(packages: &[&str], may_install: bool) -> Result<(), InstallError> {
    let list = packages.join(" ");
    let apt = format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {list}"
    );
    let prefix = if is_root() {
        Some("")
    } else if passwordless_sudo() {
        Some("sudo ")
    } else {
        None
    };
    let (Some(prefix), true) = (prefix, may_install) else {
        return Err(InstallError::NotAllowed {
            packages: list.clone(),
            command: format!(
                "{sudo}apt-get update && {sudo}apt-get install -y --no-install-recommends {list}",
                sudo = if is_root() { "" } else { "sudo " }
            ),
        });
    };
    eprintln!("stack: installing {list} with apt-get");
    let shell = format!(
        "{prefix}apt-get update && {prefix}env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {list}"
    );
    let status = Command::new("sh").arg("-c").arg(&shell).status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(InstallError::Failed {
            command: apt,
            status: s.to_string(),
        }),
        Err(e) => Err(InstallError::Failed {
            command: apt,
            status: e.to_string(),
        }),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn passwordless_sudo() -> bool {
    Command::new("sudo")
        .args(["-n", "true"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
