//! The stack's programs built from source: the OpenTelemetry Collector,
//! Tempo, Prometheus (with promtool), Alertmanager (with amtool) and
//! node_exporter, each at the release `versions.yaml` pins, the same one
//! compose runs.
//!
//! - [`pins`] reads `versions.yaml`;
//! - [`cache`] knows where builds live and whether one is current;
//! - [`build`] compiles one program from its Go module ([`prometheus_ui`]
//!   adds Prometheus's web UI; [`toolchain`] runs Go, npm and the Collector
//!   builder; [`error`] says why a build failed).
//!
//! `stack build` builds them all (each once per pin); `stack up` and the
//! tests use the builds from the cache.

pub mod build;
pub mod cache;
pub mod error;
pub mod pins;
pub mod prometheus_ui;
pub mod toolchain;

use std::path::{Path, PathBuf};

use build::Outcome;
use cache::{BuildInputs, Cache};
use error::BuildError;
use pins::{Pins, Program};

/// The Go toolchain: `go` on PATH, else where the official tarball puts it.
pub fn go_binary() -> Option<PathBuf> {
    crate::executables::on_path(&["go"]).or_else(|| {
        let official = PathBuf::from("/usr/local/go/bin/go");
        official.is_file().then_some(official)
    })
}

/// The Collector builder manifest, next to the config it must match.
pub fn manifest_path(repo: &Path) -> PathBuf {
    repo.join("otel-collector/builder.yaml")
}

/// What a build of `program` at its current pin is made from (for the
/// Collector, its builder manifest too).
pub fn inputs(repo: &Path, pins: &Pins, program: Program) -> Result<BuildInputs, BuildError> {
    let manifest = if program == Program::Otelcol {
        let path = manifest_path(repo);
        std::fs::read_to_string(&path).map_err(|source| BuildError::Io {
            what: "cannot read",
            path,
            source,
        })?
    } else {
        String::new()
    };
    Ok(BuildInputs::new(pins.of(program), &manifest))
}

/// The cached build of `program` at its current pin, if there is one.
pub fn cached(cache: &Cache, repo: &Path, pins: &Pins, program: Program) -> Option<PathBuf> {
    cache.fresh(program, &inputs(repo, pins, program).ok()?)
}

/// What [`build_all`] did.
#[derive(Debug, Default)]
pub struct Builds {
    /// The folder of binaries of each program that is now built.
    pub built: Vec<(Program, PathBuf)>,
    pub failed: Vec<(Program, BuildError)>,
}

/// Builds `programs`, one progress line each (start, then result and time),
/// going on after a failure.
pub fn build_all(cache: &Cache, repo: &Path, pins: &Pins, programs: &[Program]) -> Builds {
    let Builds {
        mut built,
        mut failed,
    } = Builds::default();
    for &program in programs {
        let pin = pins.of(program);
        let name = format!("{} {}", program.key(), pin.version());
        let module = pin.module.as_deref().unwrap_or_default();
        let result = inputs(repo, pins, program).and_then(|inputs| {
            if cache.fresh(program, &inputs).is_none() {
                note!("stack build: {name}: building from {module} ...");
            }
            build::build(cache, program, pin, &inputs, &manifest_path(repo))
        });
        match result {
            Ok(Outcome::UpToDate(bin)) => {
                note!("stack build: {name}: up to date ({})", bin.display());
                built.push((program, bin));
            }
            Ok(Outcome::Built(bin, took)) => {
                note!(
                    "stack build: {name}: built in {} ({})",
                    humantime::format_duration(std::time::Duration::from_secs(took.as_secs())),
                    bin.display()
                );
                built.push((program, bin));
            }
            Err(error) => {
                note!("stack build: {name}: FAILED: {error}");
                failed.push((program, error));
            }
        }
    }
    Builds { built, failed }
}
