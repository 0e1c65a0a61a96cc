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
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use rand::Rng as _;
use serde::Serialize;

use super::private;

/// The folders [`StateDir::create`] makes in it.
const SUBDIRS: [&str; 2] = ["data", "logs"];

/// Paths inside the state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    /// Creates the directory tree (absolute paths, so generated configs work
    /// from any working directory).
    /// Only a directory no other user can redirect is used
    /// ([`super::private`]), and from here on through its resolved path.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        let planned = private::check_path(dir)?;
        let existed = std::fs::symlink_metadata(&planned).is_ok();
        // Private from the start, whatever the umask; made where the checked
        // walk led, not through the path again.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&planned)
            .with_context(|| format!("creating state directory {}", planned.display()))?;
        // Walked again now that it exists: a link planted while it was made
        // is caught here. Refused, a directory this run made goes again.
        let checked = private::check_path(dir).and_then(|root| {
            private::check_dir(&root)?;
            Ok(root)
        });
        let root = match checked {
            Ok(root) => root,
            Err(error) => {
                if !existed {
                    let _ = std::fs::remove_dir(&planned);
                }
                return Err(error);
            }
        };
        if root != planned {
            anyhow::bail!(
                "the state directory's path {} led to {} and then to {} while it was made: \
                 someone is changing it; choose another --state-dir",
                dir.display(),
                planned.display(),
                root.display()
            );
        }
        for sub in SUBDIRS {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root.join(sub))
                .with_context(|| {
                    format!("creating state directory {}", root.join(sub).display())
                })?;
        }
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

/// Secrets passed in the environment: never written to `stack.json` (the
/// token has its own 0600 file), and given only to the components that use
/// them (`Supervised::spawn`).
pub const SECRET_ENV: [&str; 2] = ["INBOX_TOKEN", "GF_SECURITY_ADMIN_PASSWORD"];

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
        // The directory is private; this is one more guard against a planted link.
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // `mode` applies only to a new file: an older one may be readable by all.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A state directory this run made: removed again when dropped, unless
/// [`NewStateDir::keep`] was called, so a `stack up` that stops before it
/// starts anything (a busy port, a missing program) leaves nothing behind.
#[derive(Debug)]
pub struct NewStateDir(Option<PathBuf>);

impl NewStateDir {
    /// `dir`, which this run `created` (else it is never removed).
    pub fn new(dir: &Path, created: bool) -> Self {
        Self(created.then(|| dir.to_owned()))
    }

    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for NewStateDir {
    /// Removes exactly what [`StateDir::create`] and the lock made, one entry
    /// at a time: anything else found there (another run got in) stops the
    /// removal instead of being deleted with it.
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            for sub in SUBDIRS {
                let _ = std::fs::remove_dir(dir.join(sub));
            }
            let _ = std::fs::remove_file(dir.join(super::lock::LOCK_FILE));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn a_state_directory_others_can_write_to_is_refused() {
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("state");
        StateDir::create(&dir).expect("a new directory is the user's own");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let error = StateDir::create(&dir)
            .expect_err("writable by all")
            .to_string();
        assert!(
            error.contains("can be written by other users (mode 777)"),
            "{error}"
        );
        assert!(error.contains("choose a fresh --state-dir"), "{error}");
    }

    #[test]
    fn an_old_token_file_readable_by_all_is_made_private() {
        let parent = tempfile::tempdir().expect("temp dir");
        let state = StateDir::create(&parent.path().join("state")).expect("state dir");
        let path = state.file("inbox-token");
        std::fs::write(&path, "chosen\n").expect("token file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (token, _) = state.token(None).expect("token");
        assert_eq!(token, "chosen");
        let mode = std::fs::metadata(&path).expect("metadata").mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_state_directory_made_by_a_run_that_stopped_early_is_removed() {
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("state");
        let state = StateDir::create(&dir).expect("state dir");
        std::fs::write(state.file(super::super::lock::LOCK_FILE), "").expect("lock file");
        drop(NewStateDir::new(&state.root, true));
        assert!(!dir.exists(), "removed");

        // Something it did not make: left, with the directory.
        let state = StateDir::create(&dir).expect("state dir");
        std::fs::write(state.file("stack.json"), "{}").expect("another run's file");
        drop(NewStateDir::new(&state.root, true));
        assert!(state.file("stack.json").exists(), "not deleted");
        std::fs::remove_file(state.file("stack.json")).expect("cleanup");

        let state = StateDir::create(&dir).expect("state dir");
        NewStateDir::new(&state.root, true).keep();
        assert!(dir.exists(), "kept");

        drop(NewStateDir::new(&state.root, false));
        assert!(dir.exists(), "an earlier run's is never removed");
    }
}
