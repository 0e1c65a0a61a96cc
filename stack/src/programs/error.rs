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

impl BuildError {
    /// The Go module proxy answered that it does not serve the module (as
    /// this project's proxy does for Tempo): building again will not help.
    /// Any other download failure (offline, a checksum) may pass next time.
    pub fn refused_by_proxy(&self) -> bool {
        const REFUSALS: [&str; 3] = ["403 Forbidden", "404 Not Found", "410 Gone"];
        matches!(self, BuildError::Download { message, .. }
            if REFUSALS.iter().any(|refusal| message.contains(refusal)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_proxy_s_refusal_counts_as_refused() {
        let download = |message: &str| BuildError::Download {
            module: "github.com/grafana/tempo@v1".into(),
            message: message.into(),
        };
        let refused = "invalid version: reading https://proxy.golang.org/github.com/grafana/tempo/@v/v1.info: 403 Forbidden server response: This module version is not available.";
        assert!(download(refused).refused_by_proxy());
        let offline = "dial tcp: lookup proxy.golang.org: no such host";
        assert!(!download(offline).refused_by_proxy());
        assert!(!BuildError::GoMissing.refused_by_proxy());
    }
}
