//! `inbox`: the notification inbox binary. Everything lives in the library;
//! this file only parses flags, hands over and reports an error.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli_values::parse_command_line::<inbox::config::Cli>();
    match inbox::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("inbox: error: {}", cli_values::error_report(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
