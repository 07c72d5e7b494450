//! `drctl gc [--dry-run] [--region R]... [--format text|json]`: removes the
//! scratch tables and preview change sets drctl left behind, in every
//! region the policies use (primary and copies), the regions of in-flight
//! drills in the state, and the `--region`s given.

use std::time::Duration;

use clap::Args;

use super::{AwsArgs, SourceArgs, StateArgs, TextOrJson, exit, inputs, read_policies};
use crate::gc::{self, Mode};
use crate::policy;

#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Say what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also look in this region (repeatable).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Keep preview change sets younger than this (seconds): a plan running
    /// now may still be reading them.
    #[arg(long, default_value_t = gc::DEFAULT_PREVIEW_GRACE.as_secs())]
    pub preview_grace_seconds: u64,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

pub fn run(args: &GcArgs) -> anyhow::Result<u8> {
    if let Some(bad) = args.regions.iter().find(|r| !policy::names::is_region(r)) {
        anyhow::bail!("--region {bad}: not an AWS region ({})", policy::names::region_hint(bad));
    }
    let checked = policy::check(inputs(&read_policies(&args.source)?));
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    let store = args.state.open(&aws)?;
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Delete };
    let options = gc::Options { preview_grace: Duration::from_secs(args.preview_grace_seconds), ..gc::Options::default() };
    let report = runtime.block_on(gc::collect(&aws, store.as_ref(), &checked, &args.regions, mode, &options))?;
    match args.format {
        TextOrJson::Text => print!("{}", gc::format::text(&report, mode)),
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&gc::format::json(&report, mode))?),
    }
    Ok(if report.failed() { exit::ERROR } else { exit::OK })
}
