//! Validation of the monitoring-as-code files in this repository.
//!
//! Grafana, the OpenTelemetry Collector and Docker do not run on the build
//! machines, so their files are checked two ways:
//!
//! - with the real tools that do run here ([`tool`]: `promtool`, `amtool`,
//!   `check-jsonschema`), and
//! - by reading the files into [`serde_json::Value`]s ([`files`]) and checking
//!   what the upstream documentation requires ([`grafana`], [`collector`],
//!   [`compose`]) and that the files agree with each other (ports, UIDs).
//!
//! Validators return every [`Problem`] they find instead of stopping at the
//! first one, so a test failure lists everything that needs fixing. The tests
//! in `checks/tests/` are the entry points; this library keeps them short.

pub mod collector;
pub mod compose;
pub mod error;
pub mod files;
pub mod grafana;
pub mod ports;
pub mod promql;
pub mod scaling;
pub mod tool;
pub mod versions;

use std::path::PathBuf;

pub use error::CheckError;

/// One thing wrong with a file: where (a path like `groups[0].rules[1].uid`)
/// and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Location inside the document, in `a.b[2].c` notation.
    pub at: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

impl Problem {
    /// A problem at `at` described by `message`.
    pub fn new(at: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Turns a list of problems into a result: `Ok` when empty, otherwise
/// [`CheckError::Invalid`] naming `file` and listing every problem.
pub fn into_result(file: impl Into<String>, problems: Vec<Problem>) -> Result<(), CheckError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CheckError::Invalid {
            file: file.into(),
            problems,
        })
    }
}

/// The repository root (the parent of this crate's directory), so tests find
/// `prometheus/`, `grafana/`, ... wherever the workspace is checked out.
pub fn repo_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
