//! `drctl completions SHELL` and `drctl man`: generated from the same clap
//! definitions as the parser, so they never drift from the flags.

use clap::{Args, CommandFactory};

use super::{Cli, exit};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "drctl", &mut std::io::stdout());
    Ok(exit::OK)
}

/// The manual page of `drctl` itself, with every command and the exit
/// codes (its `after_help`).
pub fn man() -> anyhow::Result<u8> {
    match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
        // `drctl man | head` closing the pipe early is not an error.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(exit::OK),
    }
}
