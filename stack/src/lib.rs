//! The operator CLI for this repository's monitoring stack.
//!
//! - `stack up` runs the whole chain on this host without Docker: the service,
//!   node_exporter, Prometheus, Alertmanager and the notification inbox (plus
//!   Grafana and the OpenTelemetry Collector when their binaries are on PATH),
//!   configured from the repository's own `prometheus/` and `alertmanager/`
//!   files with the targets rewritten for localhost.
//! - `stack build` compiles the stack's Go programs at the versions
//!   `versions.yaml` pins (the ones compose runs) into a cache.
//! - `stack load` drives HTTP traffic at the service and reports what happened;
//!   `stack load --cpu` is the CPU drill that trips `HostHighCpuUsage`.

/// `eprintln!` that never panics. After SIGHUP the terminal is gone and
/// writing to it fails; that must not abort stopping the components.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod build;
pub mod cli;
pub mod executables;
pub mod load;
pub mod programs;
pub mod repo;
pub mod up;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs a parsed command line; errors are printed with their causes.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Up(args) => up::run(*args),
        Command::Load(args) => load::run(args),
        Command::Build(args) => build::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            note!("stack: error: {}", cli_values::error_report(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
