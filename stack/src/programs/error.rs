//! Why a program could not be built, in words that say what to do.

use std::path::PathBuf;

/// Why a program could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "`go` not found on PATH: install Go 1.24 or newer (https://go.dev/dl/) to build the pinned \
         programs, or run without them (`stack up --no-build` uses Debian's packages where it can)"
    )]
    GoMissing,
    #[error(
        "`npm` not found on PATH: Prometheus's web UI is built with it; install Node.js with \
         npm (Debian: `apt-get install npm`) or pass --prometheus-bin"
    )]
    NpmMissing,
    #[error("the Go module proxy did not give {module}: {message}")]
    Download { module: String, message: String },
    #[error("`{command}` failed ({status}); its last lines:\n{tail}")]
    Compile {
        command: String,
        status: String,
        tail: String,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}
