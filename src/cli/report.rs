//! `drctl report [--format html|json] [--out FILE] [--since DAY] [--until DAY]`:
//! the DR report of an audit period, from the state and its drill history.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::{AwsArgs, SourceArgs, StateArgs, exit};
use crate::report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,
    /// Write the report here (created or replaced; private) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The first day of the audit period, YYYY-MM-DD (UTC; default: a year ago).
    #[arg(long, value_name = "DAY")]
    pub since: Option<String>,
    /// The last day of the audit period, YYYY-MM-DD (UTC; default: today).
    #[arg(long, value_name = "DAY")]
    pub until: Option<String>,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<u8> {
    let now = crate::state::now();
    let day = |text: &Option<String>, end: bool, default: u64| -> anyhow::Result<u64> {
        match text {
            None => Ok(default),
            Some(text) => report::parse_day(text, end).with_context(|| format!("{text:?} is not a day: write YYYY-MM-DD")),
        }
    };
    let period = report::Period {
        since: day(&args.since, false, now.saturating_sub(crate::state::HISTORY_KEPT.as_secs()))?,
        until: day(&args.until, true, now)?,
    };
    anyhow::ensure!(period.since <= period.until, "--since is after --until");
    let runtime = super::runtime()?;
    let (inventory, store) = super::status::inventory_of(&runtime, &args.source, &args.aws, &args.state)?;
    let history = runtime.block_on(store.history(period.since)).context("reading the drill history")?;
    let built = report::build(&inventory, &history, period);
    let text = match args.format {
        ReportFormat::Html => report::html(&built),
        ReportFormat::Json => serde_json::to_string_pretty(&built)? + "\n",
    };
    match &args.out {
        None => print!("{text}"),
        // Private, as everything drctl writes (the process's umask).
        Some(path) => std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?,
    }
    Ok(exit::OK)
}
