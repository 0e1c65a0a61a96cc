//! The state directory: everything `stack up` writes lives under one folder
//! (default `.stack/`, git-ignored), so removing it resets the stack.
//!
//! ```text
//! .stack/
//!   inbox-token            bearer token shared by Alertmanager and the inbox (0600)
//!   prometheus.yml         generated from prometheus/prometheus.yml
//!   alertmanager.yml       generated from alertmanager/alertmanager.yml
//!   service-targets.json   the service instances Prometheus scrapes (file SD)
//!   stack.json             URLs, pids and logs of the running stack (while up)
//!   stack.lock             flock held by the running `stack up`, with its PID
//!   data/<component>/      TSDB, silences, Grafana database...
//!   logs/<component>.log   stdout and stderr of each component
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use rand::Rng as _;
use serde::Serialize;

/// Paths inside the state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    /// Creates the directory tree (absolute paths, so generated configs work
    /// from any working directory).
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        for sub in ["data", "logs"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating state directory {}", dir.join(sub).display()))?;
        }
        let root = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        Ok(Self { root })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `data/<component>/`, created.
    pub fn data(&self, component: &str) -> anyhow::Result<PathBuf> {
        let dir = self.root.join("data").join(component);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    pub fn log(&self, component: &str) -> PathBuf {
        self.root.join("logs").join(format!("{component}.log"))
    }

    /// The inbox token: the explicit one, else the saved one, else a new
    /// random one; always (re)written to `inbox-token` with mode 0600.
    pub fn token(&self, explicit: Option<&str>) -> anyhow::Result<(String, PathBuf)> {
        let path = self.file("inbox-token");
        let saved = std::fs::read_to_string(&path)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let token = match (explicit.map(str::trim).filter(|t| !t.is_empty()), saved) {
            (Some(t), _) => t.to_owned(),
            (None, Some(t)) => t,
            (None, None) => {
                let bytes: [u8; 24] = rand::rng().random();
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        write_private(&path, &token)?;
        Ok((token, path))
    }

    /// Writes `stack.json` describing the running stack.
    pub fn write_manifest(&self, manifest: &Manifest) -> anyhow::Result<()> {
        let path = self.file("stack.json");
        let json = serde_json::to_string_pretty(manifest)?;
        // Write then rename, so a reader never sees half a file.
        let tmp = self.file("stack.json.tmp");
        std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn remove_manifest(&self) {
        let _ = std::fs::remove_file(self.file("stack.json"));
    }
}

/// What `stack.json` says about the running stack (scripts and the
/// end-to-end test read it).
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub state_dir: PathBuf,
    pub inbox_token_file: PathBuf,
    pub components: Vec<ManifestEntry>,
}

#[derive(Debug, Serialize)]
pub struct ManifestEntry {
    pub name: &'static str,
    pub pid: u32,
    pub url: String,
    pub log: PathBuf,
    /// How it was started, to run it again by hand: program and arguments,
    /// and the environment `stack up` set (secrets left out).
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// Variables never written to `stack.json`: the token has its own 0600 file.
const SECRET_ENV: [&str; 1] = ["INBOX_TOKEN"];

/// A command's program and arguments, and the variables it sets (without
/// secrets), for [`ManifestEntry`].
pub fn shown_command(command: &Command) -> (Vec<String>, BTreeMap<String, String>) {
    let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    let argv = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(text)
        .collect();
    let env = command
        .get_envs()
        .filter_map(|(name, value)| Some((text(name), text(value?))))
        .filter(|(name, _)| !SECRET_ENV.contains(&name.as_str()))
        .collect();
    (argv, env)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
