//! The one error type of this crate.

use std::path::PathBuf;

use crate::Problem;

/// Why a check could not run or did not pass.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A YAML file does not parse.
    #[error("{path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },

    /// A JSON file does not parse.
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// An external tool is not installed.
    #[error("`{tool}` is not on PATH; {hint}")]
    ToolMissing { tool: String, hint: String },

    /// An external tool ran and reported failure.
    #[error("`{command}` failed ({status}):\n{output}")]
    ToolFailed {
        command: String,
        status: String,
        output: String,
    },

    /// A file parsed but breaks a rule; every problem found is listed.
    #[error("{file} is invalid:\n{}", list(problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}
