//! The inbox page as a person sees it: rendered by headless Chromium
//! (Debian's `chromium`, which ./scripts/test installs), kept as a PNG for a
//! person to look at, and its text returned for the test to check.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Flags for Chromium on a machine without a display or outside network:
/// no sandbox as root, and no background connections that would fail.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,2000",
];

fn chromium(args: &[&str], profile: &Path, limit: Duration) -> String {
    let mut child = Command::new("chromium")
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run chromium ({e}): ./scripts/test installs Debian's `chromium`")
        });
    let started = Instant::now();
    while child.try_wait().expect("wait for chromium").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("chromium output");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes a screenshot of `url` to `png` and returns the page's rendered DOM.
pub fn capture(url: &str, png: &Path) -> String {
    let profile = tempfile::tempdir().expect("chromium profile");
    let limit = Duration::from_secs(60);
    if let Some(dir) = png.parent() {
        std::fs::create_dir_all(dir).expect("screenshot folder");
    }
    chromium(
        &[&format!("--screenshot={}", png.display()), url],
        profile.path(),
        limit,
    );
    assert!(
        png.metadata().is_ok_and(|m| m.len() > 1000),
        "no screenshot at {}",
        png.display()
    );
    chromium(&["--dump-dom", url], profile.path(), limit)
}
