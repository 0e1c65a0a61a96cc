//! One `stack up` per state directory.
//!
//! Two runs on one directory would overwrite each other's configs, run two
//! Prometheus servers on one TSDB, and the first to stop would delete the
//! other's `stack.json`. So `stack up` takes an exclusive `flock` on
//! `<state dir>/stack.lock` before it writes anything there, holds it for its
//! whole life, and writes its PID into the file so a second run can say who
//! holds it. The kernel drops the lock when the process ends, however it
//! ends: a stale file never blocks a later run. The descriptor is opened
//! close-on-exec (Rust's default), so the components `stack up` starts do not
//! inherit the lock and cannot keep it after `stack up` is gone.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the lock file inside the state directory.
pub const LOCK_FILE: &str = "stack.lock";

/// Why the state directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "another `stack up` ({holder}) is running on the state directory {dir}: stop it first \
         (Ctrl-C in its terminal), or give this one its own directory and ports: --state-dir \
         (or STACK_STATE_DIR, e.g. --state-dir .stack-2) and the port flags it then names as \
         busy (0 = any free port)"
    )]
    Held {
        /// The state directory.
        dir: PathBuf,
        /// `pid N`, or why the PID is unknown.
        holder: String,
        /// The PID read from the lock file, if any.
        pid: Option<u32>,
    },
    /// The lock file could not be opened, locked or written.
    #[error("cannot lock the state directory with {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

impl StateLock {
    /// Locks `dir` (which must exist) at once, or fails naming the holder.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io_error = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // Not truncated on open: the holder's PID must survive our opening.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            // Never through a link planted in the state directory.
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_error)?;
        // SAFETY: flock on a descriptor this function owns; no memory effects.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io_error(error));
            }
            let pid = holder_pid(&mut file);
            let holder = pid.map_or_else(
                || "its PID is not written yet: it is starting".to_owned(),
                |pid| format!("pid {pid}"),
            );
            return Err(LockError::Held {
                dir: dir.to_path_buf(),
                holder,
                pid,
            });
        }
        // Written in place, then cut to length: a reader sees a whole PID,
        // never an emptied file.
        let line = format!("{}\n", std::process::id());
        file.write_all_at(line.as_bytes(), 0)
            .and_then(|()| file.set_len(line.len() as u64))
            .map_err(io_error)?;
        Ok(Self { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Closing the file releases the lock; the PID would only mislead.
        let _ = self.file.set_len(0);
    }
}

/// The PID in the lock file. A holder that has just locked a new file may not
/// have written it yet: read once more after a moment.
fn holder_pid(file: &mut File) -> Option<u32> {
    for attempt in 0..2 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            if let Ok(pid) = text.trim().parse() {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_naming_the_first_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = StateLock::acquire(dir.path()).expect("first lock");
        let written = std::fs::read_to_string(first.path()).expect("lock file");
        assert_eq!(written.trim(), std::process::id().to_string());

        let error = StateLock::acquire(dir.path()).expect_err("second lock");
        match &error {
            LockError::Held { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
            other => panic!("unexpected error: {other}"),
        }
        let message = error.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("--state-dir"), "{message}");
        // The refused attempt left the holder's PID in place.
        let still = std::fs::read_to_string(first.path()).expect("lock file");
        assert_eq!(still, written);

        drop(first);
        let again = StateLock::acquire(dir.path()).expect("lock after release");
        assert_eq!(
            std::fs::read_to_string(again.path())
                .expect("lock file")
                .trim(),
            std::process::id().to_string()
        );
    }

    #[test]
    fn a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").expect("target");
        std::os::unix::fs::symlink(&target, dir.path().join(LOCK_FILE)).expect("symlink");
        let error = StateLock::acquire(dir.path()).expect_err("a link");
        assert!(matches!(error, LockError::Io { .. }), "{error}");
        assert_eq!(std::fs::read_to_string(&target).expect("target"), "keep me");
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope");
        let error = StateLock::acquire(&missing).expect_err("no directory");
        assert!(matches!(error, LockError::Io { .. }), "{error}");
        assert!(error.to_string().contains("stack.lock"), "{error}");
    }
}
