//! The `service` binary: parse the configuration, run, report errors.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use service::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let result = match cli.command {
        Some(Command::Healthcheck(args)) => runtime
            .block_on(service::healthcheck::check(&args.url, args.timeout))
            .context("healthcheck failed"),
        None => runtime
            .block_on(service::run(cli.serve))
            .context("service stopped with an error"),
    };
    // Dropping the runtime would wait without limit for blocking-pool work
    // still running (a CPU burn outliving the grace period): exit promptly.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}
