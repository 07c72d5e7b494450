//! `drctl reconcile`: plan (and, from the apply stage on, apply) every policy.

use std::io::IsTerminal;

use clap::{Args, ValueEnum};

use super::{AwsArgs, SourceArgs, exit, inputs, read_policies};
use crate::plan::{self, format};
use crate::policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Show the plan and change nothing (preview change sets are deleted).
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// Exit 0 with no changes, 2 with changes pending, 1 on any error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Policies planned at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Also look for orphaned drctl stacks in this region (repeatable).
    #[arg(long = "orphan-region")]
    pub orphan_regions: Vec<String>,
}

pub fn run(args: &ReconcileArgs) -> anyhow::Result<u8> {
    if !args.dry_run {
        anyhow::bail!("applying is not available in this version of drctl: run `drctl reconcile --dry-run` to see the plan");
    }
    let set = read_policies(&args.source)?;
    let commit = match &set.revision {
        crate::source::Revision::Commit { sha, .. } => Some(sha.clone()),
        crate::source::Revision::WorkTree { .. } => None,
    };
    let checked = policy::check(inputs(&set));
    let options = plan::Options { commit, extra_regions: args.orphan_regions.clone(), concurrency: args.concurrency };
    let plan = super::runtime()?.block_on(async {
        let aws = args.aws.connect().await;
        plan::plan(&aws, &checked, &options).await
    });
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let output = match args.format {
        PlanFormat::Text => format::text(&plan, colour),
        PlanFormat::Json => format::json(&plan),
        PlanFormat::Markdown => format::markdown(&plan),
    };
    print!("{output}");
    Ok(if plan.has_errors() {
        exit::ERROR
    } else if args.detailed_exitcode && plan.has_changes() {
        exit::CHANGES_PENDING
    } else {
        exit::OK
    })
}
