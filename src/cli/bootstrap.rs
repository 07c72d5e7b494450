//! `drctl bootstrap`: the shared `drctl-bootstrap` stack of every region the
//! policies use (SNS topics, and the state table when asked).

use std::io::IsTerminal;

use anyhow::Context;
use clap::Args;

use super::{AwsArgs, SourceArgs, exit, inputs, read_policies};
use crate::apply::{self, Progress};
use crate::policy;

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
    let progress = Progress::for_terminal(std::io::stderr().is_terminal());
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    let done = runtime.block_on(apply::bootstrap_regions(&aws, checked.valid().map(|p| &p.policy), state_table, &progress));
    for region in &done {
        let topics: Vec<&str> = region.bootstrap.topics.iter().map(String::as_str).collect();
        let outcome = match &region.outcome {
            Ok(outcome) => apply::outcome_text(outcome),
            Err(error) => format!("not rendered: {error}"),
        };
        println!(
            "{} ({}): {outcome} — topics: [{}]{}",
            crate::render::BOOTSTRAP_STACK,
            region.bootstrap.region,
            topics.join(", "),
            region.bootstrap.state_table.as_ref().map(|t| format!(", state table {t}")).unwrap_or_default()
        );
    }
    Ok(if done.iter().any(apply::Bootstrapped::failed) || checked.has_errors() { exit::ERROR } else { exit::OK })
}
