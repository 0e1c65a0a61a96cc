//! Running the external validators (`promtool`, `amtool`, `otelcol-contrib`,
//! `check-jsonschema`).

use std::path::Path;
use std::process::Command;

use crate::CheckError;

/// Where to get each tool, printed when it is missing.
fn install_hint(tool: &str) -> &'static str {
    match tool {
        "promtool" | "amtool" | "otelcol-contrib" => {
            "run the tests through ./scripts/test, which builds the pinned version with \
             `stack build` and puts it first on PATH"
        }
        "check-jsonschema" => {
            "run the tests through ./scripts/test (it installs check-jsonschema into \
             target/tools-venv), or `python3 -m venv /tmp/v && /tmp/v/bin/pip install \
             check-jsonschema` and put /tmp/v/bin on PATH"
        }
        _ => "install it and put it on PATH",
    }
}

/// Runs `tool args...` in `dir` and returns its combined output when it exits
/// 0; [`CheckError::ToolMissing`] when it is not installed,
/// [`CheckError::ToolFailed`] (with its output) otherwise.
///
/// These tools only read local files and finish in well under a second, so
/// no timeout is needed.
pub fn run(tool: &str, args: &[&str], dir: &Path) -> Result<String, CheckError> {
    let command_line = format!("{tool} {}", args.join(" "));
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => CheckError::ToolMissing {
                tool: tool.to_owned(),
                hint: install_hint(tool).to_owned(),
            },
            _ => CheckError::ToolFailed {
                command: command_line.clone(),
                status: "could not start".to_owned(),
                output: error.to_string(),
            },
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(CheckError::ToolFailed {
            command: command_line,
            status: output.status.to_string(),
            output: text,
        })
    }
}

/// A fresh directory under the system temp dir whose name starts with
/// `prefix`, for generated files such as the PromQL rule file; removed when
/// dropped (also when a test panics).
pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, CheckError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|source| CheckError::Io {
            path: std::env::temp_dir(),
            source,
        })
}

/// Writes `contents` to `name` inside `dir` (creating parents).
pub fn write_file(
    dir: &Path,
    name: &str,
    contents: &str,
) -> Result<std::path::PathBuf, CheckError> {
    let path = dir.join(name);
    let io_error = |source| CheckError::Io {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    std::fs::write(&path, contents).map_err(io_error)?;
    Ok(path)
}
