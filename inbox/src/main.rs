//! `inbox`: the notification inbox binary. Everything lives in the library;
//! this file only parses flags, sets up logging and hands over.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = inbox::config::Cli::parse();
    inbox::run(cli)
}
