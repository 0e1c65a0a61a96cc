//! Child processes that never outlive `stack up`.
//!
//! Three layers make sure of it:
//! 1. each child runs in its own process group, so stopping it reaches any
//!    grandchildren too, and a terminal's Ctrl-C reaches only `stack`, which
//!    then stops the children in order;
//! 2. [`Supervised`]'s `Drop` sends SIGTERM to the group, waits a grace
//!    period, then SIGKILLs — so early returns and panics clean up as well;
//!    a leader that exits on its own has its leftover group members killed
//!    before it is reaped (see [`Supervised::exit_status`]);
//! 3. on Linux the child asks the kernel for SIGTERM when its parent dies
//!    (`PR_SET_PDEATHSIG`), covering even `kill -9 stack`.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::state::SECRET_ENV;

/// Keeps the secrets of `stack up`'s environment from `command` unless it
/// sets them itself: a process's environment is readable in /proc by the
/// same user, and passes to everything it runs.
fn withhold_secrets(command: &mut Command) {
    for secret in SECRET_ENV {
        if !command
            .get_envs()
            .any(|(name, value)| name == secret && value.is_some())
        {
            command.env_remove(secret);
        }
    }
}

/// How long a child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// A running component whose output goes to a log file.
#[derive(Debug)]
pub struct Supervised {
    pub name: &'static str,
    pub log: PathBuf,
    /// Where this run's output starts in `log` (earlier runs' is above).
    log_start: u64,
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
        let log_start = out.metadata().map_or(0, |meta| meta.len());
        let err = out
            .try_clone()
            .map_err(|e| SpawnError::Log(log.to_owned(), e))?;
        withhold_secrets(&mut command);
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
            log_start,
            child,
            exited: None,
            stopped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited (reaped, no zombie left).
    ///
    /// The group is signalled only while its leader is alive or still a
    /// zombie: until the leader is reaped its pid, which is the group id,
    /// cannot be given to another process. So an exit is first noticed
    /// without reaping (`waitid` with `WNOWAIT`), leftovers of the group are
    /// swept with SIGKILL, and only then is the leader reaped. After that
    /// this component never signals anything again.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() && self.leader_exited() {
            self.signal_group(libc::SIGKILL);
            self.exited = self.child.wait().ok();
        }
        self.exited
    }

    /// Whether the leader has exited, leaving it unreaped (a zombie).
    fn leader_exited(&self) -> bool {
        // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid siginfo pointer;
        // WNOWAIT leaves the child waitable, so `Child` can still reap it.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.child.id(),
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // With WNOHANG a still-running child leaves si_pid 0. An error can
        // only mean the child is not ours to wait for, which `Child` rules out.
        // SAFETY: waitid filled `info` (or left it zeroed).
        rc == 0 && unsafe { info.si_pid() } != 0
    }

    /// SIGTERM to the process group, wait up to the grace period, then SIGKILL.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        // Exited before (and already swept): nothing of it is left to signal.
        if self.exit_status().is_some() {
            return;
        }
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if self.exit_status().is_some() {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        note!(
            "stack: {} ignored SIGTERM for {GRACE:?}; killing it",
            self.name
        );
        // Not reaped yet, so the group id is still this component's.
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
        tail(&self.log, self.log_start, lines)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a text file from byte `start` on (empty when
/// unreadable).
fn tail(path: &Path, start: u64, lines: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let from = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[from..]);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(pid: &str) -> bool {
        // A killed orphan may linger as a zombie until init reaps it.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    }

    #[test]
    fn leader_exit_sweeps_its_group_before_reaping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("leader.log");
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & echo $!; exit 0"]);
        let mut leader = Supervised::spawn("leader", command, &log).expect("spawn sh");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = leader.exit_status() {
                break status;
            }
            assert!(Instant::now() < deadline, "sh did not exit");
            sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
        let grandchild = std::fs::read_to_string(&log).expect("log");
        let grandchild = grandchild.trim();
        assert!(!grandchild.is_empty(), "no pid logged");
        let deadline = Instant::now() + Duration::from_secs(5);
        while running(grandchild) {
            assert!(
                Instant::now() < deadline,
                "sleep {grandchild} outlived its leader"
            );
            sleep(Duration::from_millis(20));
        }
        // Stopping an already exited and reaped component signals nothing.
        leader.stop();
    }

    #[test]
    fn a_failure_quotes_this_run_s_output_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("component.log");
        std::fs::write(&log, "an earlier run's last line\n").expect("earlier log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo this run failed; exit 3"]);
        let mut component = Supervised::spawn("component", command, &log).expect("spawn sh");
        let deadline = Instant::now() + Duration::from_secs(10);
        while component.exit_status().is_none() {
            assert!(Instant::now() < deadline, "sh did not exit");
            sleep(Duration::from_millis(20));
        }
        assert_eq!(component.log_tail(20), "this run failed");
        let kept = std::fs::read_to_string(&log).expect("log");
        assert!(kept.starts_with("an earlier run's last line\n"), "{kept}");
    }

    #[test]
    fn secrets_go_only_to_the_components_that_set_them() {
        use std::ffi::OsStr;
        let env = |command: &Command, name: &str| {
            command
                .get_envs()
                .find(|(key, _)| *key == OsStr::new(name))
                .map(|(_, value)| value.map(OsStr::to_owned))
        };
        let mut plain = Command::new("true");
        withhold_secrets(&mut plain);
        for secret in SECRET_ENV {
            assert_eq!(env(&plain, secret), Some(None), "{secret} is removed");
        }
        let mut inbox = Command::new("true");
        inbox.env("INBOX_TOKEN", "t");
        withhold_secrets(&mut inbox);
        assert_eq!(env(&inbox, "INBOX_TOKEN"), Some(Some("t".into())));
        assert_eq!(env(&inbox, "GF_SECURITY_ADMIN_PASSWORD"), Some(None));
    }
}
