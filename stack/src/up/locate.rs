//! Finding the program behind each component, in this order:
//!
//! 1. the `--<program>-bin` flag;
//! 2. the build of the pinned version in the cache (`stack build`);
//! 3. building it now, when Go is installed (unless `--no-build`);
//! 4. PATH (any version: a user's own install);
//! 5. for Prometheus, node_exporter and Alertmanager, Debian's packages
//!    (installed when allowed, see [`super::packages`]).
//!
//! The Collector and Tempo are optional: without them the metrics half
//! runs and the report says why they are missing and what to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::UpArgs;
use crate::programs::cache::{self, Cache};
use crate::programs::error::BuildError;
use crate::programs::pins::{Pins, Program};
use crate::programs::{Builds, build_all, cached, go_binary};

use super::packages::{self, DebianTool};
use crate::executables::on_path;

/// The binary chosen for a program, and where it came from.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    /// For the startup report: "built, pinned 3.5.0", "from PATH", ...
    pub origin: String,
}

/// What runs, and why the rest does not.
#[derive(Debug, Default)]
pub struct Located {
    found: BTreeMap<Program, Found>,
    /// Optional programs that will not run, with the reason.
    pub missing: Vec<(Program, String)>,
    /// Programs whose module the Go module proxy refused: building them
    /// again here will not help.
    pub refused: Vec<Program>,
}

impl Located {
    pub fn get(&self, program: Program) -> Option<&Found> {
        self.found.get(&program)
    }

    /// The path of a core program ([`locate`] fails without one).
    pub fn path(&self, program: Program) -> anyhow::Result<PathBuf> {
        self.get(program)
            .map(|f| f.path.clone())
            .ok_or_else(|| anyhow::anyhow!("internal: {} not located", program.key()))
    }
}

const CORE: [(Program, DebianTool); 3] = [
    (Program::Prometheus, packages::PROMETHEUS),
    (Program::NodeExporter, packages::NODE_EXPORTER),
    (Program::Alertmanager, packages::ALERTMANAGER),
];

fn flag_of(args: &UpArgs, program: Program) -> (Option<&Path>, &'static str) {
    match program {
        Program::Prometheus => (args.prometheus_bin.as_deref(), "--prometheus-bin"),
        Program::NodeExporter => (args.node_exporter_bin.as_deref(), "--node-exporter-bin"),
        Program::Alertmanager => (args.alertmanager_bin.as_deref(), "--alertmanager-bin"),
        Program::Otelcol => (args.otelcol_bin.as_deref(), "--otelcol-bin"),
        Program::Tempo => (args.tempo_bin.as_deref(), "--tempo-bin"),
    }
}

/// Names a program has on PATH when someone else installed it.
fn path_names(program: Program) -> &'static [&'static str] {
    match program {
        Program::Prometheus => packages::PROMETHEUS.binaries,
        Program::NodeExporter => packages::NODE_EXPORTER.binaries,
        Program::Alertmanager => packages::ALERTMANAGER.binaries,
        Program::Otelcol => &["otelcol-contrib"],
        Program::Tempo => &["tempo"],
    }
}

/// Finds (building or installing where allowed) every program `stack up`
/// will run: the three core ones always, the Collector and Tempo unless
/// `--no-optional` (and Tempo not when `--tempo-endpoint` names one).
pub fn locate(args: &UpArgs, repo: &Path) -> anyhow::Result<Located> {
    let pins = Pins::load(repo)?;
    let cache = Cache::new(args.cache_dir.clone().unwrap_or_else(cache::default_root));
    let mut wanted: Vec<Program> = CORE.iter().map(|(p, _)| *p).collect();
    if !args.no_optional {
        wanted.push(Program::Otelcol);
        if args.tempo_endpoint.is_none() {
            wanted.push(Program::Tempo);
        }
    }

    let mut located = Located::default();
    let mut why_not: BTreeMap<Program, String> = BTreeMap::new();
    for &program in &wanted {
        let version = pins.of(program).version();
        let (explicit, flag) = flag_of(args, program);
        if let Some(path) = explicit {
            anyhow::ensure!(
                path.is_file(),
                "{flag} {}: no such file; pass the path of the {} binary",
                path.display(),
                program.key()
            );
            located.insert(program, path.to_owned(), flag.to_owned());
        } else if let Some(bin) = cached(&cache, repo, &pins, program) {
            let path = bin.join(program.binaries()[0]);
            located.insert(program, path, format!("{version}, built from source"));
        }
    }

    let unbuilt: Vec<Program> = wanted
        .iter()
        .copied()
        .filter(|p| located.get(*p).is_none())
        .collect();
    if !unbuilt.is_empty() {
        if args.no_build {
            for &program in &unbuilt {
                why_not.insert(program, "not built (--no-build)".into());
            }
        } else if go_binary().is_none() {
            for &program in &unbuilt {
                why_not.insert(program, "not built: Go is not installed".into());
            }
        } else {
            let names: Vec<String> = unbuilt
                .iter()
                .map(|&p| format!("{} {}", p.key(), pins.of(p).version()))
                .collect();
            note!(
                "stack: trying to build {} from Go modules: a few minutes each on 2 cores, once \
                 per version; a module the Go module proxy refuses fails at once and is tried \
                 again on the next start (`stack build` does the same, --no-build skips it)",
                names.join(", ")
            );
            let Builds { built, failed } = build_all(&cache, repo, &pins, &unbuilt);
            for (program, bin) in built {
                let path = bin.join(program.binaries()[0]);
                let origin = format!("{}, built from source", pins.of(program).version());
                located.insert(program, path, origin);
            }
            for (program, error) in failed {
                let reason = match error {
                    // The build's own line has just given the proxy's answer.
                    BuildError::Download { module, .. } if error.refused_by_proxy() => {
                        located.refused.push(program);
                        format!("the Go module proxy does not serve {module} here")
                    }
                    error => format!("build failed: {error}"),
                };
                why_not.insert(program, reason);
            }
        }
    }

    for &program in &wanted {
        if located.get(program).is_none()
            && let Some(path) = on_path(path_names(program))
        {
            let origin = "from PATH, version not checked".to_owned();
            located.insert(program, path, origin);
        }
    }

    let debian: Vec<(DebianTool, Option<&Path>)> = CORE
        .iter()
        .filter(|(p, _)| located.get(*p).is_none())
        .map(|(_, tool)| (*tool, None))
        .collect();
    if !debian.is_empty() {
        let paths = packages::ensure(&debian, !args.no_install)?;
        let missing = CORE.iter().filter(|(p, _)| located.get(*p).is_none());
        for ((program, tool), path) in missing.copied().collect::<Vec<_>>().into_iter().zip(paths) {
            located.insert(program, path, format!("Debian package {}", tool.package));
        }
    }

    for &program in &wanted {
        if located.get(program).is_none() {
            let reason = why_not
                .remove(&program)
                .unwrap_or_else(|| "not found".into());
            located.missing.push((program, reason));
        }
    }
    Ok(located)
}

impl Located {
    fn insert(&mut self, program: Program, path: PathBuf, origin: String) {
        self.found.insert(program, Found { path, origin });
    }
}
