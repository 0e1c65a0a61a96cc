//! `versions.yaml`: which release of each program the stack runs.
//!
//! Each entry pairs the image compose runs with the Go module at the same
//! release, so the native stack runs exactly what compose runs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The programs `stack build` compiles, in build order (quickest first, so
/// a failure in a long build leaves the short ones usable).
pub const BUILT: [Program; 5] = [
    Program::NodeExporter,
    Program::Alertmanager,
    Program::Otelcol,
    Program::Prometheus,
    Program::Tempo,
];

/// A program of the stack that is built from its Go module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Program {
    Otelcol,
    Tempo,
    Prometheus,
    Alertmanager,
    #[value(name = "node_exporter")]
    NodeExporter,
}

impl Program {
    /// Its key in `versions.yaml`.
    pub fn key(self) -> &'static str {
        match self {
            Program::Otelcol => "otelcol",
            Program::Tempo => "tempo",
            Program::Prometheus => "prometheus",
            Program::Alertmanager => "alertmanager",
            Program::NodeExporter => "node_exporter",
        }
    }

    /// The executables it provides; the first is the one `stack up` runs.
    pub fn binaries(self) -> &'static [&'static str] {
        match self {
            Program::Otelcol => &["otelcol-contrib"],
            Program::Tempo => &["tempo"],
            Program::Prometheus => &["prometheus", "promtool"],
            Program::Alertmanager => &["alertmanager", "amtool"],
            Program::NodeExporter => &["node_exporter"],
        }
    }

    /// The Go symbol that holds the version `--version` prints, set at link
    /// time as the release builds do (Grafana reads Prometheus's version
    /// from its build info to pick features).
    pub fn version_symbol(self) -> Option<&'static str> {
        match self {
            Program::Prometheus | Program::Alertmanager | Program::NodeExporter => {
                Some("github.com/prometheus/common/version.Version")
            }
            Program::Tempo => Some("main.Version"),
            // The builder writes the version from the manifest's dist.version.
            Program::Otelcol => None,
        }
    }
}

/// One entry of `versions.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The image compose runs, `repository:tag`.
    pub image: String,
    /// `module@version` of the same release; absent for programs not built.
    pub module: Option<String>,
    /// Main packages to build inside that module.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Go modules of this release that the checks use (`path: version`),
    /// for a program that is not built here (Grafana).
    #[serde(default)]
    pub go_modules: BTreeMap<String, String>,
}

impl Pin {
    /// The image tag without a leading `v` (`3.5.0`): the version users see.
    pub fn version(&self) -> &str {
        let tag = self.image.rsplit_once(':').map_or("", |(_, tag)| tag);
        tag.strip_prefix('v').unwrap_or(tag)
    }

    /// The module path and its version, split at `@`.
    pub fn module_version(&self) -> Option<(&str, &str)> {
        self.module.as_deref()?.split_once('@')
    }
}

/// Why `versions.yaml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PinsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {source}")]
    Parse {
        path: String,
        source: serde_yaml_ng::Error,
    },
    #[error(
        "{path}: `{key}` needs `module: PATH@VERSION` and `packages` \
         (e.g. module: github.com/prometheus/alertmanager@v0.28.1, packages: [./cmd/alertmanager])"
    )]
    Incomplete { path: String, key: &'static str },
}

/// Every pin of `versions.yaml`, by key.
#[derive(Debug, Clone)]
pub struct Pins(BTreeMap<String, Pin>);

impl Pins {
    /// Reads `versions.yaml` at the repository root.
    pub fn load(repo: &Path) -> Result<Self, PinsError> {
        let path = repo.join("versions.yaml");
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| PinsError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses the text of `versions.yaml` (`path` only names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<Self, PinsError> {
        let pins: BTreeMap<String, Pin> =
            serde_yaml_ng::from_str(text).map_err(|source| PinsError::Parse {
                path: path.to_owned(),
                source,
            })?;
        for program in BUILT {
            let complete = pins
                .get(program.key())
                .is_some_and(|p| p.module_version().is_some() && !p.packages.is_empty());
            if !complete {
                return Err(PinsError::Incomplete {
                    path: path.to_owned(),
                    key: program.key(),
                });
            }
        }
        Ok(Self(pins))
    }

    /// The pin of a built program (present: [`Pins::parse`] checked it).
    pub fn of(&self, program: Program) -> &Pin {
        &self.0[program.key()]
    }

    /// Every pin, including programs that are not built (Grafana).
    pub fn all(&self) -> &BTreeMap<String, Pin> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .to_path_buf()
    }

    #[test]
    fn the_repository_pins_parse() {
        let pins = Pins::load(&repo()).expect("versions.yaml");
        let prometheus = pins.of(Program::Prometheus);
        assert_eq!(prometheus.version(), "3.5.0");
        assert_eq!(
            prometheus.module_version(),
            Some(("github.com/prometheus/prometheus", "v0.305.0"))
        );
        assert_eq!(pins.of(Program::Otelcol).version(), "0.129.1");
    }

    #[test]
    fn a_built_program_without_module_is_refused() {
        let text = std::fs::read_to_string(repo().join("versions.yaml")).expect("read");
        let broken = text.replace(
            "module: github.com/prometheus/alertmanager@v0.28.1",
            "# no module",
        );
        let error = Pins::parse(&broken, "versions.yaml").expect_err("incomplete");
        assert!(error.to_string().contains("`alertmanager`"), "{error}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error =
            Pins::parse("tempo:\n  image: a:1\n  modul: x@y\n", "v.yaml").expect_err("typo");
        assert!(error.to_string().contains("modul"), "{error}");
    }
}
