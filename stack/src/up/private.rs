//! Whether a state directory is safe to write in as this user.
//!
//! Everything `stack up` writes (configs, the inbox token, the lock) goes
//! under the state directory. If another user could swap the directory or
//! anything on the way to it for a symlink, they could make `stack up`
//! overwrite a file of yours (or, run as root, any file) and read it back as
//! the inbox token. So the path is accepted only when no other user can
//! change where it leads:
//!
//! - every directory on the way, as given and as resolved, belongs to a
//!   trusted user and lets no one else replace its entries: not writable by
//!   others unless it has the sticky bit (like `/tmp`), not writable by its
//!   group unless that group is yours;
//! - every symlink on the way belongs to a trusted user (as the kernel's
//!   `fs.protected_symlinks` demands in sticky directories, everywhere);
//! - the directory itself is yours and writable by you alone.
//!
//! Trusted: you, root, and under `sudo` the user who ran it (`SUDO_UID`),
//! so `sudo stack up` works in your own checkout.
//!
//! The caller then uses the resolved path only: a symlink changed later does
//! not move it.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Refuses a path to the state directory through which another user could
/// redirect it, before anything is created through it.
pub fn check_path(dir: &Path) -> anyhow::Result<()> {
    let absolute =
        std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let mut prefix = PathBuf::new();
    for component in absolute.components() {
        // The directory that holds the next entry: whoever may replace its
        // entries could plant a link there, also where nothing is yet.
        if !prefix.as_os_str().is_empty() {
            check_ancestor(dir, &prefix)?;
        }
        prefix.push(component);
        // What does not exist yet is made by this run.
        let Ok(metadata) = std::fs::symlink_metadata(&prefix) else {
            break;
        };
        if metadata.file_type().is_symlink() && !trusted(metadata.uid()) {
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
        check_ancestor(resolved, ancestor)?;
    }
    Ok(())
}

/// Refuses `ancestor` of the state directory `dir` if someone untrusted
/// could rename or replace its entries.
fn check_ancestor(dir: &Path, ancestor: &Path) -> anyhow::Result<()> {
    let metadata =
        std::fs::metadata(ancestor).with_context(|| format!("reading {}", ancestor.display()))?;
    let mode = metadata.permissions().mode();
    let sticky = mode & 0o1000 != 0;
    let others_write = mode & 0o002 != 0 && !sticky;
    // SAFETY: getegid has no preconditions and cannot fail.
    let my_group = metadata.gid() == unsafe { libc::getegid() };
    let group_write = mode & 0o020 != 0 && !sticky && !my_group;
    if !trusted(metadata.uid()) || others_write || group_write {
        bail!(
            "the state directory {} is inside {} (user id {}, group id {}, mode {:o}), where \
             another user can replace it: choose a --state-dir under directories only you and \
             root can change",
            dir.display(),
            ancestor.display(),
            metadata.uid(),
            metadata.gid(),
            mode & 0o7777
        );
    }
    Ok(())
}

/// You, root, or the user who ran `sudo`.
fn trusted(owner: u32) -> bool {
    let me = euid();
    owner == me || owner == 0 || (me == 0 && sudo_uid() == Some(owner))
}

fn sudo_uid() -> Option<u32> {
    std::env::var("SUDO_UID").ok()?.parse().ok()
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
        let dir = shared.join("a").join("state");
        std::fs::create_dir_all(&dir).expect("dirs");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let error = check_dir(&dir).expect_err("replaceable").to_string();
        assert!(
            error.contains("where another user can replace it"),
            "{error}"
        );
        // Refused before anything is made in it.
        let new = shared.join("new");
        assert!(StateDir::create(&new).is_err());
        assert!(!new.exists(), "made");
        // Reached through a link of yours: refused once resolved, and the
        // directory it made is removed again.
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&shared, &link).expect("symlink");
        assert!(StateDir::create(&link.join("new")).is_err());
        assert!(!new.exists(), "left behind");
        // As given, too: `a` could be swapped for a link before it resolves.
        let error = check_path(&dir).expect_err("replaceable").to_string();
        assert!(
            error.contains("where another user can replace it"),
            "{error}"
        );
        // Sticky, like /tmp: only an entry's owner may rename it.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        check_dir(&dir).expect("sticky");
        check_path(&dir).expect("sticky");
    }

    #[test]
    fn a_new_state_directory_is_private_whatever_the_umask() {
        let parent = tempfile::tempdir().expect("temp dir");
        let state = StateDir::create(&parent.path().join("state")).expect("state dir");
        // Made with mode 0700, not the umask's 0755 or (umask 002) 0775,
        // which the check then refused.
        let mode = std::fs::metadata(&state.root)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
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
        check_path(&link.join("state")).expect("root's own symlink");
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).expect("lchown");
        let error = StateDir::create(&link.join("state"))
            .expect_err("nobody's symlink")
            .to_string();
        assert!(error.contains("which belongs to user id 65534"), "{error}");
        assert!(!target.join("state").exists(), "nothing made through it");
    }
}
