//! `stack`: the operator CLI. All logic lives in the library; see `stack --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    stack::run(stack::cli::Cli::parse())
}
