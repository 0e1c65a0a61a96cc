//! Child processes that never outlive `stack up`.
//!
//! Three layers make sure of it:
//! 1. each child runs in its own process group, so stopping it reaches any
//!    grandchildren too, and a terminal's Ctrl-C reaches only `stack`, which
//!    then stops the children in order;
//! 2. [`Supervised`]'s `Drop` sends SIGTERM to the group, waits a grace
//!    period, then SIGKILLs — so early returns and panics clean up as well;
//! 3. on Linux the child asks the kernel for SIGTERM when its parent dies
//!    (`PR_SET_PDEATHSIG`), covering even `kill -9 stack`.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// A running component whose output goes to a log file.
#[derive(Debug)]
pub struct Supervised {
    pub name: &'static str,
    pub log: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
    stopped: bool,
}

/// Why a component could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot create log file {0}: {1}")]
    Log(PathBuf, std::io::Error),
    #[error("cannot start {name} ({program}): {source}")]
    Exec {
        name: &'static str,
        program: PathBuf,
        source: std::io::Error,
    },
}

impl Supervised {
    /// Starts `command` as component `name`, stdout and stderr appended to `log`.
    ///
    /// Must be called from a thread that lives as long as the stack (the main
    /// thread): the parent-death signal fires when the spawning *thread* exits.
    pub fn spawn(name: &'static str, mut command: Command, log: &Path) -> Result<Self, SpawnError> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| SpawnError::Log(log.to_owned(), e))?;
        let err = out
            .try_clone()
            .map_err(|e| SpawnError::Log(log.to_owned(), e))?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: the closure runs between fork and exec and only calls
        // async-signal-safe functions (prctl, getppid), allocating nothing.
        unsafe {
            let parent = libc::getpid();
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("parent exited during spawn"));
                }
                Ok(())
            });
        }
        let program = PathBuf::from(command.get_program());
        let child = command.spawn().map_err(|source| SpawnError::Exec {
            name,
            program,
            source,
        })?;
        Ok(Self {
            name,
            log: log.to_owned(),
            child,
            exited: None,
            stopped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited (reaped, no zombie left).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// SIGTERM to the process group, wait up to the grace period, then SIGKILL.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        if self.exit_status().is_some() {
            // The leader is gone; still sweep its group for leftovers.
            self.signal_group(libc::SIGKILL);
            return;
        }
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if self.exit_status().is_some() {
                self.signal_group(libc::SIGKILL);
                return;
            }
            sleep(Duration::from_millis(50));
        }
        note!(
            "stack: {} ignored SIGTERM for {GRACE:?}; killing it",
            self.name
        );
        self.signal_group(libc::SIGKILL);
        self.exited = self.child.wait().ok();
    }

    fn signal_group(&self, signal: libc::c_int) {
        let Ok(pgid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals the process group we
        // created for this child (`process_group(0)` makes pgid == pid).
        unsafe {
            libc::kill(-pgid, signal);
        }
    }

    /// The last `lines` lines of the log, to explain a failure.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a text file (empty when unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
