//! The processes the test starts: building the binaries, `stack up` and the
//! drill under a [`Guard`], and `stack load` runs with a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::clock::Clock;

/// How long `stack up` may take to stop, in Drop as in the final step: it
/// gives each of its five components up to 10 s of grace, one after another.
pub const STOP_WAIT: Duration = Duration::from_secs(60);

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped, so a
/// failing assertion never leaves processes behind.
pub struct Guard {
    name: &'static str,
    pub child: Child,
}

impl Guard {
    pub fn spawn(name: &'static str, mut command: Command) -> Self {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: only async-signal-safe prctl between fork and exec. If this
        // test process dies, the child gets SIGTERM (and stops its own children).
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// Sends `signal` and waits up to `within` for the exit status.
    pub fn stop(&mut self, signal: i32, within: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // SAFETY: signalling our own, not yet reaped child by pid.
        unsafe {
            libc::kill(self.pid(), signal);
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.stop(libc::SIGTERM, STOP_WAIT).is_none() {
            eprintln!("e2e: {} ignored SIGTERM; killing", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts again, as this test's child, a component `stack up` started and
/// that has since stopped, from its `command` and `env` in `stack.json`;
/// its output goes next to its old log, as `<name>.restarted.log`.
pub fn restart(component: &serde_json::Value) -> Guard {
    let argv: Vec<&str> = component["command"]
        .as_array()
        .expect("command in stack.json")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let log = Path::new(component["log"].as_str().expect("log")).with_extension("restarted.log");
    let log = std::fs::File::create(&log).expect("restarted log");
    let mut command = Command::new(argv[0]);
    command
        .args(&argv[1..])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .stdin(Stdio::null());
    for (name, value) in component["env"].as_object().expect("env in stack.json") {
        command.env(name, value.as_str().unwrap_or_default());
    }
    Guard::spawn("restarted component", command)
}

/// Runs a `stack load` child to completion; if it is still running at
/// `deadline` the timeout drops it, and `kill_on_drop` kills it.
pub async fn run_with_deadline(command: Command, deadline: Instant, clock: &Clock) -> Output {
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true).stdin(Stdio::null());
    tokio::time::timeout_at(deadline.into(), command.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "stack load still running at its deadline; killed{}",
                clock.why()
            )
        })
        .expect("run stack load")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("stack/ has a parent")
        .to_path_buf()
}

/// Returns the directory holding `stack`, `service` and `inbox`, building the
/// latter two first when they are missing or older than their sources.
///
/// `cargo test --workspace` has already built them (a package's binaries are
/// built for its integration tests), and a nested `cargo build -p service -p
/// inbox` would resolve features differently and recompile dozens of crates;
/// so build only when needed, e.g. under `cargo test -p stack`.
pub fn build_binaries() -> PathBuf {
    let stack = PathBuf::from(env!("CARGO_BIN_EXE_stack"));
    let dir = stack.parent().expect("binary dir").to_path_buf();
    let root = repo_root();
    // The workspace manifest and lock file set both binaries' dependencies
    // and profiles, so they count as sources too.
    let sources = [
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join("service"),
        root.join("inbox"),
    ];
    let newest_source = sources.iter().filter_map(|p| newest_mtime(p)).max();
    let fresh = |name: &str| {
        let built = std::fs::metadata(dir.join(name))
            .and_then(|m| m.modified())
            .ok();
        matches!((built, newest_source), (Some(b), Some(s)) if b >= s)
    };
    if fresh("service") && fresh("inbox") {
        return dir;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&root)
        .args(["build", "--locked", "-p", "service", "-p", "inbox"]);
    if dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build --locked -p service -p inbox failed"
    );
    for name in ["service", "inbox"] {
        assert!(
            dir.join(name).is_file(),
            "{name} not built in {}",
            dir.display()
        );
    }
    dir
}

/// Latest modification time of a file or of any file below a directory.
fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "target")
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}
