//! Where built programs live: one folder per program and release under the
//! user's cache directory, outside any checkout, so every clone and every
//! run shares one build.
//!
//! ```text
//! ~/.cache/monitored-service/programs/
//!   prometheus-3.5.0/
//!     bin/prometheus, bin/promtool
//!     build.json      what it was built from; a change means a rebuild
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::pins::{Pin, Program};

/// The default cache root: `$XDG_CACHE_HOME/monitored-service`, else
/// `~/.cache/monitored-service`.
pub fn default_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("monitored-service")
}

/// The version of how programs are built: raised when the build steps
/// change, so that builds made the old way are made again.
const RECIPE: u32 = 2;

/// Everything a build depends on besides the Go toolchain. Stored as
/// `build.json` next to the binaries; a build whose inputs differ from the
/// current ones is stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInputs {
    pub recipe: u32,
    pub module: String,
    pub packages: Vec<String>,
    pub version: String,
    /// The Collector builder manifest's text (empty for other programs).
    pub manifest: String,
}

impl BuildInputs {
    pub fn new(pin: &Pin, manifest: &str) -> Self {
        Self {
            recipe: RECIPE,
            module: pin.module.clone().unwrap_or_default(),
            packages: pin.packages.clone(),
            version: pin.version().to_owned(),
            manifest: manifest.to_owned(),
        }
    }
}

/// The build cache rooted at one directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `programs/<key>-<version>/`: one folder per release, so switching a
    /// pin back and forth reuses both builds.
    pub fn dir(&self, program: Program, inputs: &BuildInputs) -> PathBuf {
        self.root
            .join("programs")
            .join(format!("{}-{}", program.key(), inputs.version))
    }

    pub fn bin_dir(&self, program: Program, inputs: &BuildInputs) -> PathBuf {
        self.dir(program, inputs).join("bin")
    }

    /// The folder of binaries built from exactly `inputs`, if there is one.
    pub fn fresh(&self, program: Program, inputs: &BuildInputs) -> Option<PathBuf> {
        let dir = self.dir(program, inputs);
        let stamp = std::fs::read_to_string(dir.join("build.json")).ok()?;
        let built: BuildInputs = serde_json::from_str(&stamp).ok()?;
        let bin = dir.join("bin");
        let complete = program.binaries().iter().all(|b| bin.join(b).is_file());
        (built == *inputs && complete).then_some(bin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(version: &str) -> BuildInputs {
        BuildInputs {
            recipe: RECIPE,
            module: format!("example.com/m@v{version}"),
            packages: vec![".".into()],
            version: version.into(),
            manifest: String::new(),
        }
    }

    fn fake_build(cache: &Cache, program: Program, inputs: &BuildInputs) {
        let bin = cache.bin_dir(program, inputs);
        std::fs::create_dir_all(&bin).expect("mkdir");
        for name in program.binaries() {
            std::fs::write(bin.join(name), "").expect("binary");
        }
        let stamp = serde_json::to_string(inputs).expect("json");
        std::fs::write(cache.dir(program, inputs).join("build.json"), stamp).expect("stamp");
    }

    #[test]
    fn a_build_is_fresh_only_for_the_inputs_it_was_made_from() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path().to_owned());
        let built = inputs("1.0.0");
        assert_eq!(cache.fresh(Program::NodeExporter, &built), None);
        fake_build(&cache, Program::NodeExporter, &built);
        assert_eq!(
            cache.fresh(Program::NodeExporter, &built),
            Some(cache.bin_dir(Program::NodeExporter, &built))
        );

        let mut other_packages = built.clone();
        other_packages.packages.push("./cmd/x".into());
        assert_eq!(cache.fresh(Program::NodeExporter, &other_packages), None);
        assert_eq!(cache.fresh(Program::NodeExporter, &inputs("1.0.1")), None);
    }

    #[test]
    fn a_missing_binary_makes_a_build_stale() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path().to_owned());
        let built = inputs("3.5.0");
        fake_build(&cache, Program::Prometheus, &built);
        std::fs::remove_file(cache.bin_dir(Program::Prometheus, &built).join("promtool"))
            .expect("rm");
        assert_eq!(cache.fresh(Program::Prometheus, &built), None);
    }
}
