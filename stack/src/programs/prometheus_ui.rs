//! Prometheus's web UI. The Go module carries the UI's sources (`web/ui`),
//! not the built pages: upstream's release build compiles them with npm and
//! embeds them with the `builtinassets` build tag (`make assets-compress`).
//! The same is done here, so the Prometheus `stack up` runs has the UI the
//! compose image has (without it every page but the API answers 500).
//!
//! Only the default UI is built (`mantine-ui`, with the PromQL editor
//! modules it uses); the old React UI, behind `--enable-feature=old-ui`, is
//! left out.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::BuildError;
use super::toolchain::run;

/// The build tag that makes `./cmd/prometheus` embed `web/ui/static`.
pub const TAG: &str = "builtinassets";

/// npm on PATH.
pub fn npm() -> Option<PathBuf> {
    crate::executables::on_path(&["npm"])
}

/// Builds the UI inside `source`, a writable copy of the Prometheus module,
/// leaving the compressed pages where the `builtinassets` tag embeds them.
pub fn build(npm: &Path, source: &Path) -> Result<(), BuildError> {
    let ui = source.join("web/ui");
    let npm_in_ui = |args: &[&str]| {
        let mut command = Command::new(npm);
        command.args(args).current_dir(&ui);
        command
    };
    run(npm_in_ui(&[
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]))?;
    for workspace in [
        "@prometheus-io/lezer-promql",
        "@prometheus-io/codemirror-promql",
        "@prometheus-io/mantine-ui",
    ] {
        run(npm_in_ui(&["run", "build", "-w", workspace]))?;
    }
    let static_dir = ui.join("static");
    std::fs::create_dir_all(&static_dir).map_err(|source| BuildError::Io {
        what: "cannot create",
        path: static_dir.clone(),
        source,
    })?;
    let built = ui.join("mantine-ui/dist");
    let target = static_dir.join("mantine-ui");
    std::fs::rename(&built, &target).map_err(|source| BuildError::Io {
        what: "the UI build left nothing at",
        path: built,
        source,
    })?;
    // Upstream's script gzips the pages and writes the embed list.
    let mut compress = Command::new("bash");
    compress
        .arg("scripts/compress_assets.sh")
        .current_dir(source);
    run(compress)
}
