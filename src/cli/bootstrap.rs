//! `drctl bootstrap`: the shared `drctl-bootstrap` stack of every region the
//! policies use (SNS topics, and the state table when asked).

use std::io::IsTerminal;

use anyhow::Context;
use clap::Args;

use super::{AwsArgs, SourceArgs, exit, inputs, read_policies};
use crate::apply::{self, Progress, StackOutcome};
use crate::policy;
use crate::render;

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Also create the DynamoDB state table, as `REGION:TABLE`.
    #[arg(long)]
    pub state_table: Option<String>,
}

pub fn run(args: &BootstrapArgs) -> anyhow::Result<u8> {
    let checked = policy::check(inputs(&read_policies(&args.source)?));
    let state_table = match &args.state_table {
        Some(text) => Some(text.split_once(':').context("--state-table takes REGION:TABLE, like us-east-1:drctl-state")?),
        None => None,
    };
    let bootstraps = render::bootstraps(checked.valid().map(|p| &p.policy), state_table);
    let progress = Progress::for_terminal(std::io::stderr().is_terminal());
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    let mut failed = false;
    for bootstrap in &bootstraps {
        let (stack, outcome) = runtime.block_on(apply::bootstrap(&aws, bootstrap, &progress))?;
        progress.finish();
        let topics: Vec<&str> = bootstrap.topics.iter().map(String::as_str).collect();
        println!(
            "{} ({}): {} — topics: [{}]{}",
            stack.name,
            stack.region,
            apply::outcome_text(&outcome),
            topics.join(", "),
            bootstrap.state_table.as_ref().map(|t| format!(", state table {t}")).unwrap_or_default()
        );
        failed |= matches!(outcome, StackOutcome::Failed { .. } | StackOutcome::Refused { .. });
    }
    Ok(if failed || checked.has_errors() { exit::ERROR } else { exit::OK })
}
