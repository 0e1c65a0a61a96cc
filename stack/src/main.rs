//! `stack`: the operator CLI. All logic lives in the library; see `stack --help`.

fn main() -> std::process::ExitCode {
    stack::run(cli_values::parse_command_line::<stack::cli::Cli>())
}
