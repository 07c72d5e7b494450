use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    drctl::cli::run(drctl::cli::Cli::parse())
}
