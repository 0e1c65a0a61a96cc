//! `inbox`: the notification inbox binary. Everything lives in the library;
//! this file only parses flags, hands over and reports an error.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = inbox::config::Cli::parse();
    match inbox::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("inbox: error: {}", cli_values::error_report(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
