//! Finding the programs `stack up` runs.
//!
//! - `service` and `inbox` are this workspace's binaries: they sit next to the
//!   `stack` executable in the same target directory (`cargo build` puts them
//!   there), unless a flag points elsewhere.
//! - Prometheus, node_exporter and Alertmanager come from Debian packages
//!   (see [`super::packages`]).
//! - Grafana and otelcol-contrib are optional: used when on PATH.

use std::path::{Path, PathBuf};

/// A workspace binary is missing.
#[derive(Debug, thiserror::Error)]
#[error(
    "{name} binary not found at {path}: build the workspace first \
     (`cargo build --release`, then run ./target/release/stack) or pass {flag} PATH"
)]
pub struct MissingBinary {
    pub name: &'static str,
    pub path: PathBuf,
    pub flag: &'static str,
}

/// The `name` binary from the flag, or next to the running `stack`.
pub fn workspace_binary(
    name: &'static str,
    flag: &'static str,
    explicit: Option<&Path>,
) -> Result<PathBuf, MissingBinary> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
            .unwrap_or_else(|| PathBuf::from(name)),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(MissingBinary { name, path, flag })
    }
}
