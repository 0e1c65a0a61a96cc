//! Running the toolchain for a build: `go mod download`, `go build`, npm and
//! the Collector builder, their output kept for the error message only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::error::BuildError;

/// `go ...` in `dir`: statically linked, with the module's own go.mod and
/// go.sum as they are (the module cache is read-only), whatever go.work or
/// GOFLAGS the user has set.
pub fn go_command(go: &Path, dir: &Path) -> Command {
    let mut command = Command::new(go);
    command
        .current_dir(dir)
        .env("CGO_ENABLED", "0")
        .env("GOWORK", "off")
        .env("GOFLAGS", "-mod=readonly");
    command
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Downloaded {
    dir: Option<PathBuf>,
    error: Option<String>,
}

/// `go mod download -json module@version`: the module's directory in the
/// Go module cache (read-only, which `go build` does not mind).
pub fn download(go: &Path, module: &str) -> Result<PathBuf, BuildError> {
    let output = Command::new(go)
        .args(["mod", "download", "-json", module])
        .env("GOWORK", "off")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Io {
            what: "cannot run",
            path: go.to_owned(),
            source,
        })?;
    let failed = |message: String| BuildError::Download {
        module: module.to_owned(),
        message,
    };
    let parsed: Downloaded = serde_json::from_slice(&output.stdout)
        .map_err(|_| failed(one_line(&String::from_utf8_lossy(&output.stderr))))?;
    match (parsed.dir, parsed.error) {
        (Some(dir), None) => Ok(dir),
        (_, Some(error)) => {
            // Go's message starts with `module@version: ` again.
            let error = one_line(&error);
            let error = error.strip_prefix(&format!("{module}: ")).unwrap_or(&error);
            Err(failed(error.to_owned()))
        }
        (None, None) => Err(failed("no directory in `go mod download -json`".into())),
    }
}

/// Go's multi-line, tab-indented message (e.g. the proxy's `403 Forbidden\n\tserver
/// response: ...`) as one line of single spaces.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs a build command, keeping its output for the error message only.
pub fn run(mut command: Command) -> Result<(), BuildError> {
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Io {
            what: "cannot run",
            path: PathBuf::from(command.get_program()),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    Err(BuildError::Compile {
        command: shown,
        status: output.status.to_string(),
        tail: lines[lines.len().saturating_sub(30)..].join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn the_proxys_refusal_reads_as_one_line() {
        let go = "reading https://proxy.golang.org/x/@v/v1.info: 403 Forbidden\n\tserver response: not available.\n";
        assert_eq!(
            one_line(go),
            "reading https://proxy.golang.org/x/@v/v1.info: 403 Forbidden server response: not available."
        );
    }
}
