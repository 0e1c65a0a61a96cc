//! The `service` binary: parse the configuration, run, report errors.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use service::{Cli, Command};

fn main() -> ExitCode {
    let cli = cli_values::parse_command_line::<Cli>();
    let serve = match cli.command {
        // A plain blocking probe: no runtime needed.
        Some(Command::Healthcheck(args)) => {
            return match http_server::healthcheck::probe(&args.url.to_string(), args.timeout)
                .context("healthcheck failed")
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => report(&err),
            };
        }
        None => cli.serve,
    };
    // The OTLP exporter's flush blocks a thread: it needs the multi-thread
    // runtime (a current-thread one can deadlock at shutdown).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
    {
        Ok(runtime) => runtime,
        Err(err) => return report(&err),
    };
    let result = runtime
        .block_on(service::run(serve))
        .map_err(anyhow::Error::from);
    // Dropping the runtime would wait without limit for blocking-pool work
    // still running (a CPU burn outliving the grace period): exit promptly.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", cli_values::error_report(err.as_ref()));
    ExitCode::FAILURE
}
