//! Whether a state directory is safe to write in as this user.
//!
//! Everything `stack up` writes (configs, the inbox token, the lock) goes
//! under the state directory. If another user could swap the directory or
//! anything on the way to it for a symlink, they could make `stack up`
//! overwrite a file of yours (or, run as root, any file) and read it back as
//! the inbox token. So the path is accepted only when no other user can
//! change where it leads:
//!
//! - a symlink on the given path belongs to you or root (as the kernel's
//!   `fs.protected_symlinks` demands in sticky directories, everywhere);
//! - each directory above the resolved one belongs to you or root and, if
//!   others may write to it, has the sticky bit (like `/tmp`), so nobody
//!   else can rename or replace the entries that lead to yours;
//! - the directory itself is yours and writable by you alone.
//!
//! The caller then uses the resolved path only: a symlink changed later does
//! not move it.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, bail};

/// Refuses symlinks of other users on `dir`, before anything is created
/// through them.
pub fn check_links(dir: &Path) -> anyhow::Result<()> {
    let absolute =
        std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let me = euid();
    let mut prefix = std::path::PathBuf::new();
    for component in absolute.components() {
        prefix.push(component);
        // What does not exist yet is made by this run.
        let Ok(metadata) = std::fs::symlink_metadata(&prefix) else {
            break;
        };
        if metadata.file_type().is_symlink() && !trusted(metadata.uid(), me) {
            bail!(
                "the state directory's path {} runs through the symlink {}, which belongs to \
                 user id {}: they choose where it leads; give --state-dir a path without it",
                dir.display(),
                prefix.display(),
                metadata.uid()
            );
        }
    }
    Ok(())
}

/// Refuses a resolved state directory that another user owns or may write
/// to, or whose place another user may change.
pub fn check_dir(resolved: &Path) -> anyhow::Result<()> {
    let me = euid();
    let metadata =
        std::fs::metadata(resolved).with_context(|| format!("reading {}", resolved.display()))?;
    if metadata.uid() != me {
        bail!(
            "the state directory {} belongs to user id {}, not to you ({me}): choose a \
             directory of your own with --state-dir",
            resolved.display(),
            metadata.uid()
        );
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        bail!(
            "the state directory {} can be written by other users (mode {mode:o}): run \
             `chmod go-w {}`, or choose another --state-dir",
            resolved.display(),
            resolved.display()
        );
    }
    for ancestor in resolved.ancestors().skip(1) {
        let metadata = std::fs::metadata(ancestor)
            .with_context(|| format!("reading {}", ancestor.display()))?;
        let mode = metadata.permissions().mode();
        let shared = mode & 0o022 != 0 && mode & 0o1000 == 0;
        if !trusted(metadata.uid(), me) || shared {
            bail!(
                "the state directory {} is inside {} (user id {}, mode {:o}), where another \
                 user can replace it: choose a --state-dir under directories only you and root \
                 can change",
                resolved.display(),
                ancestor.display(),
                metadata.uid(),
                mode & 0o7777
            );
        }
    }
    Ok(())
}

fn trusted(owner: u32, me: u32) -> bool {
    owner == me || owner == 0
}

/// The effective user id, whose files `stack up` writes.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::up::state::StateDir;

    #[test]
    fn a_directory_inside_one_others_may_write_to_is_refused_unless_sticky() {
        let parent = tempfile::tempdir().expect("temp dir");
        let shared = parent.path().join("shared");
        let dir = shared.join("state");
        std::fs::create_dir_all(&dir).expect("dirs");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let error = check_dir(&dir).expect_err("replaceable").to_string();
        assert!(
            error.contains("where another user can replace it"),
            "{error}"
        );
        // Sticky, like /tmp: only the owner may rename the entry.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        check_dir(&dir).expect("sticky");
    }

    #[test]
    fn another_users_symlink_on_the_path_is_refused() {
        if euid() != 0 {
            eprintln!("skipped: giving a symlink to another user needs root (CI runs as root)");
            return;
        }
        let parent = tempfile::tempdir().expect("temp dir");
        let target = parent.path().join("target");
        std::fs::create_dir(&target).expect("target");
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        check_links(&link.join("state")).expect("root's own symlink");
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).expect("lchown");
        let error = StateDir::create(&link.join("state"))
            .expect_err("nobody's symlink")
            .to_string();
        assert!(error.contains("which belongs to user id 65534"), "{error}");
        assert!(!target.join("state").exists(), "nothing made through it");
    }
}
