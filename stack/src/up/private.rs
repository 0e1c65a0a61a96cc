//! Whether a state directory is safe to write in as this user.
//!
//! Everything `stack up` writes (configs, the inbox token, the lock, logs)
//! goes under the state directory. If another user could swap the directory
//! or anything on the way to it for a symlink, or had left links in it, they
//! could make `stack up` overwrite a file of yours (or, run as root, any
//! file) and read it back as the inbox token. So the path is accepted only
//! when no other user can change where it leads:
//!
//! - the path is followed one entry at a time, through every symlink's
//!   target: each directory passed belongs to a trusted user and lets no one
//!   else replace its entries (not writable by others unless it has the
//!   sticky bit, like `/tmp`; not writable by its group unless that group is
//!   yours; no ACL granting more), and each symlink belongs to a trusted user;
//! - the directory itself is yours, writable by you alone, and holds nothing
//!   of another user's and no symlink (at its top, in `logs/` and `data/`).
//!
//! Trusted: you, root, and under `sudo` the user who ran it (`SUDO_UID`),
//! so `sudo stack up` works in your own checkout.
//!
//! The walk runs again once the directory exists, and its result is the
//! path used from then on: a link planted while it was being made is caught,
//! and nothing on the way can change afterwards.

use std::collections::VecDeque;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};

/// Most symlinks followed on one path (Linux's own limit).
const MAX_LINKS: usize = 40;

/// Follows `dir` entry by entry, checking every directory passed and every
/// symlink, and returns where it leads (its end may not exist yet: this run
/// makes it).
pub fn check_path(dir: &Path) -> anyhow::Result<PathBuf> {
    let absolute =
        std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    // Owned pieces: a symlink's target is spliced in as the walk goes.
    let mut pending: VecDeque<OsString> = owned(&absolute);
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        match name.as_bytes() {
            b"/" => {
                resolved = PathBuf::from("/");
                continue;
            }
            b"." => continue,
            b".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        // Whoever may replace entries here could plant a link at `name`,
        // also where nothing is yet. A directory not there yet is one this
        // run makes, private.
        if std::fs::symlink_metadata(&resolved).is_ok() {
            check_holder(dir, &resolved)?;
        }
        let next = resolved.join(name);
        let Ok(metadata) = std::fs::symlink_metadata(&next) else {
            resolved = next;
            continue;
        };
        if !metadata.file_type().is_symlink() {
            resolved = next;
            continue;
        }
        if !trusted(metadata.uid()) {
            bail!(
                "the state directory's path {} runs through the symlink {}, which belongs to \
                 user id {}: they choose where it leads; give --state-dir a path without it",
                dir.display(),
                next.display(),
                metadata.uid()
            );
        }
        links += 1;
        if links > MAX_LINKS {
            bail!(
                "the state directory's path {} has too many symlinks",
                dir.display()
            );
        }
        let target =
            std::fs::read_link(&next).with_context(|| format!("reading {}", next.display()))?;
        for piece in owned(&target).into_iter().rev() {
            pending.push_front(piece);
        }
    }
    Ok(resolved)
}

/// `path`'s components, `/` for the root.
fn owned(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter(|component| !matches!(component, Component::Prefix(_)))
        .map(|component| component.as_os_str().to_owned())
        .collect()
}

/// Refuses the resolved state directory `root` unless it is a directory of
/// yours that only you can write, holding nothing another user could have
/// planted.
pub fn check_dir(root: &Path) -> anyhow::Result<()> {
    let me = euid();
    let metadata =
        std::fs::symlink_metadata(root).with_context(|| format!("reading {}", root.display()))?;
    if !metadata.is_dir() || !trusted(metadata.uid()) {
        bail!(
            "the state directory {} belongs to user id {}, not to you ({me}): choose a \
             directory of your own with --state-dir",
            root.display(),
            metadata.uid()
        );
    }
    // Without group write, no ACL entry can grant it either (the group bits
    // are the ACL's mask).
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        bail!(
            "the state directory {} can be written by other users (mode {mode:o}): choose \
             a fresh --state-dir (what others wrote there may still lead elsewhere)",
            root.display()
        );
    }
    for dir in [root.to_owned(), root.join("logs"), root.join("data")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(metadata) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if metadata.file_type().is_symlink() || !trusted(metadata.uid()) {
                bail!(
                    "the state directory holds {}, {}: someone else could write there once; \
                     remove it, or choose a fresh --state-dir",
                    path.display(),
                    if metadata.file_type().is_symlink() {
                        "a symlink".to_owned()
                    } else {
                        format!("which belongs to user id {}", metadata.uid())
                    }
                );
            }
        }
    }
    Ok(())
}

/// Refuses `holder`, a directory on the way to the state directory `dir`,
/// if someone untrusted could rename or replace its entries.
fn check_holder(dir: &Path, holder: &Path) -> anyhow::Result<()> {
    let metadata =
        std::fs::metadata(holder).with_context(|| format!("reading {}", holder.display()))?;
    let mode = metadata.permissions().mode();
    let sticky = mode & 0o1000 != 0;
    let others_write = mode & 0o002 != 0 && !sticky;
    // With an ACL the group bits are its mask: named users may write too.
    let acl = mode & 0o020 != 0 && !sticky && has_acl(holder);
    let group_write = mode & 0o020 != 0 && !sticky && (!my_group(metadata.gid()) || acl);
    if !trusted(metadata.uid()) || others_write || group_write {
        bail!(
            "the state directory {} is reached through {} (user id {}, group id {}, mode {:o}{}), \
             where another user can replace it: choose a --state-dir under directories only \
             you and root can change",
            dir.display(),
            holder.display(),
            metadata.uid(),
            metadata.gid(),
            mode & 0o7777,
            if acl { ", an ACL" } else { "" }
        );
    }
    Ok(())
}

/// Whether `path` has a POSIX ACL, which may grant more than its mode shows.
fn has_acl(path: &Path) -> bool {
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: both strings are NUL-terminated and outlive the call; a null
    // buffer of size 0 only asks for the value's size.
    let size = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"system.posix_acl_access".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

/// You, root, or the user who ran `sudo`.
fn trusted(owner: u32) -> bool {
    let me = euid();
    owner == me || owner == 0 || (me == 0 && sudo_uid() == Some(owner))
}

fn sudo_uid() -> Option<u32> {
    std::env::var("SUDO_UID").ok()?.parse().ok()
}

/// Your effective group, or under `sudo` the group of the user who ran it.
fn my_group(gid: u32) -> bool {
    // SAFETY: getegid has no preconditions and cannot fail.
    let mine = unsafe { libc::getegid() };
    let sudo = || std::env::var("SUDO_GID").ok()?.parse::<u32>().ok();
    gid == mine || (euid() == 0 && sudo() == Some(gid))
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

    fn refused(result: anyhow::Result<impl std::fmt::Debug>, why: &str) {
        let error = result.expect_err(why).to_string();
        assert!(error.contains(why), "{error}");
    }

    #[test]
    fn a_path_through_a_directory_others_may_write_to_is_refused_unless_sticky() {
        let parent = tempfile::tempdir().expect("temp dir");
        let shared = parent.path().join("shared");
        let dir = shared.join("a").join("state");
        std::fs::create_dir_all(&dir).expect("dirs");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        // `a` could be swapped for a link.
        refused(check_path(&dir), "where another user can replace it");
        // Nothing is made in such a place, also through a link of yours.
        let new = shared.join("new");
        refused(StateDir::create(&new), "where another user can replace it");
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&shared, &link).expect("symlink");
        refused(
            StateDir::create(&link.join("new")),
            "where another user can replace it",
        );
        assert!(!new.exists(), "made");
        // Sticky, like /tmp: only an entry's owner may rename it.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert_eq!(check_path(&dir).expect("sticky"), dir);
        assert_eq!(check_path(&link.join("a/state")).expect("followed"), dir);
    }

    #[test]
    fn a_path_back_out_of_a_directory_not_made_yet_is_walked_the_same_twice() {
        let parent = tempfile::tempdir().expect("temp dir");
        let state = StateDir::create(&parent.path().join("new/../state")).expect("state dir");
        assert_eq!(state.root, parent.path().join("state"));
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
    fn a_symlink_left_in_the_state_directory_is_refused() {
        let parent = tempfile::tempdir().expect("temp dir");
        let state = StateDir::create(&parent.path().join("state")).expect("state dir");
        let victim = parent.path().join("victim");
        std::fs::write(&victim, "keep me").expect("victim");
        std::os::unix::fs::symlink(&victim, state.root.join("logs/inbox.log")).expect("link");
        refused(StateDir::create(&state.root), "a symlink");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    }

    #[test]
    fn another_users_symlinks_and_files_on_the_way_or_inside_are_refused() {
        if euid() != 0 {
            eprintln!("skipped: giving files to another user needs root (CI runs as root)");
            return;
        }
        let nobody = Some(65534);
        let parent = tempfile::tempdir().expect("temp dir");
        let target = parent.path().join("target");
        std::fs::create_dir(&target).expect("target");
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        check_path(&link.join("state")).expect("root's own symlink");
        std::os::unix::fs::lchown(&link, nobody, nobody).expect("lchown");
        refused(
            StateDir::create(&link.join("state")),
            "which belongs to user id 65534",
        );
        assert!(!target.join("state").exists(), "nothing made through it");

        // Root's own link, into a directory of nobody's: the hop is checked.
        let theirs = parent.path().join("theirs");
        std::fs::create_dir(&theirs).expect("theirs");
        std::os::unix::fs::lchown(&theirs, nobody, nobody).expect("chown");
        let rootlink = parent.path().join("rootlink");
        std::os::unix::fs::symlink(theirs.join("state"), &rootlink).expect("symlink");
        refused(
            StateDir::create(&rootlink),
            "where another user can replace it",
        );

        // A file another user left in the state directory.
        let state = StateDir::create(&parent.path().join("state")).expect("state dir");
        let planted = state.root.join("inbox-token");
        std::fs::write(&planted, "chosen").expect("token");
        std::os::unix::fs::lchown(&planted, nobody, nobody).expect("chown");
        refused(
            StateDir::create(&state.root),
            "which belongs to user id 65534",
        );
    }
}
