//! The Debian-packaged components, and installing them when allowed.
//!
//! Debian's binaries read no config unless told: `stack up` passes every path
//! and address as flags, so `/etc/default/*` plays no part. Installing the
//! packages on a systemd host also starts their system services on the very
//! ports `stack up` wants (9090/9100/9093), so after installing them itself
//! `stack up` stops and disables exactly those units.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::executables::on_path;

/// A component shipped by a Debian package.
#[derive(Debug, Clone, Copy)]
pub struct DebianTool {
    pub package: &'static str,
    /// The systemd unit the package installs and starts.
    pub unit: &'static str,
    /// Names to look for on PATH (Debian's name first).
    pub binaries: &'static [&'static str],
}

pub const PROMETHEUS: DebianTool = DebianTool {
    package: "prometheus",
    unit: "prometheus",
    binaries: &["prometheus"],
};
pub const NODE_EXPORTER: DebianTool = DebianTool {
    package: "prometheus-node-exporter",
    unit: "prometheus-node-exporter",
    binaries: &["prometheus-node-exporter", "node_exporter"],
};
pub const ALERTMANAGER: DebianTool = DebianTool {
    package: "prometheus-alertmanager",
    unit: "prometheus-alertmanager",
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
    let missing: Vec<DebianTool> = tools
        .iter()
        .filter(|(tool, explicit)| find(tool, *explicit).is_none())
        .map(|(tool, _)| *tool)
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

fn install(tools: &[DebianTool], may_install: bool) -> Result<(), InstallError> {
    let packages: Vec<&str> = tools.iter().map(|t| t.package).collect();
    let list = packages.join(" ");
    // What the operator is told to run: with sudo unless already root.
    let shown = apt_command(&list, if is_root() { "" } else { "sudo " });
    let not_allowed = || InstallError::NotAllowed {
        packages: list.clone(),
        command: shown.clone(),
    };
    if !may_install {
        return Err(not_allowed());
    }
    // `sudo -n`: fail instead of prompting for a password.
    let prefix = if is_root() {
        ""
    } else if passwordless_sudo() {
        "sudo -n "
    } else {
        return Err(not_allowed());
    };
    eprintln!("stack: installing {list} with apt-get");
    run(&apt_command(&list, prefix)).map_err(|status| InstallError::Failed {
        command: shown.clone(),
        status,
    })?;
    if Path::new("/run/systemd/system").is_dir() {
        let units: Vec<&str> = tools.iter().map(|t| t.unit).collect();
        let disable = disable_command(&units, prefix);
        match run(&disable) {
            Ok(()) => eprintln!(
                "stack: stopped and disabled the system services the packages started \
                 (`{disable}`), so their ports are free for stack up"
            ),
            // Not fatal: the port check names the busy port and this command.
            Err(status) => eprintln!("stack: warning: `{disable}` failed ({status})"),
        }
    }
    Ok(())
}

/// `apt-get update && apt-get install ...`, each apt-get run with `prefix`.
fn apt_command(list: &str, prefix: &str) -> String {
    format!(
        "{prefix}apt-get update && {prefix}env DEBIAN_FRONTEND=noninteractive \
         apt-get install -y --no-install-recommends {list}"
    )
}

/// Stops and disables the units the install just started.
fn disable_command(units: &[&str], prefix: &str) -> String {
    format!("{prefix}systemctl disable --now {}", units.join(" "))
}

/// Runs a shell command; `Err` describes how it failed.
fn run(shell: &str) -> Result<(), String> {
    match Command::new("sh").arg("-c").arg(shell).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(s.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn is_root() -> bool {
    super::private::euid() == 0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_carry_the_prefix_on_every_privileged_step() {
        assert_eq!(
            apt_command("prometheus", "sudo "),
            "sudo apt-get update && sudo env DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends prometheus"
        );
        assert_eq!(
            disable_command(&[PROMETHEUS.unit, ALERTMANAGER.unit], "sudo -n "),
            "sudo -n systemctl disable --now prometheus prometheus-alertmanager"
        );
        assert_eq!(
            disable_command(&[NODE_EXPORTER.unit], ""),
            "systemctl disable --now prometheus-node-exporter"
        );
    }

    #[test]
    fn no_install_names_the_command_instead() {
        let error = install(&[PROMETHEUS], false).expect_err("installing is not allowed");
        let text = error.to_string();
        assert!(
            text.contains("apt-get install -y --no-install-recommends prometheus"),
            "{text}"
        );
        if !is_root() {
            assert!(text.contains("sudo apt-get update"), "{text}");
        }
    }
}
