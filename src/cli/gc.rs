//! `drctl gc [--dry-run] [--region R]... [--format text|json]`: removes the
//! scratch tables and preview change sets drctl left behind, in every
//! region the policies use (primary and copies), the regions of in-flight
//! drills in the state, and the `--region`s given.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::{AwsArgs, SourceArgs, StateArgs, TextOrJson, exit, inputs, read_policies};
use crate::gc::{self, Found, GcReport, Kind, Mode, Outcome};
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
    let mut regions: BTreeSet<String> = args.regions.iter().cloned().collect();
    for loaded in checked.valid() {
        let spec = &loaded.policy.spec;
        regions.insert(spec.region.clone());
        regions.extend(spec.backup.copies.iter().map(|c| c.region.clone()));
    }
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    let store = args.state.open(&aws)?;
    let states = runtime
        .block_on(store.list())
        .with_context(|| format!("reading the state in {} (gc needs it to spare running drills)", store.describe()))?;
    regions.extend(gc::state_regions(&states));
    if regions.is_empty() {
        anyhow::bail!("no region to look in: no valid policy names one; give --region");
    }
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Delete };
    let options = gc::Options { preview_grace: Duration::from_secs(args.preview_grace_seconds), ..gc::Options::default() };
    let regions: Vec<String> = regions.into_iter().collect();
    let report = runtime.block_on(gc::run_with(&aws, &regions, &states, mode, &options));
    match args.format {
        TextOrJson::Text => print!("{}", text(&report, mode)),
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&json_report(&report, mode))?),
    }
    Ok(if report.failed() { exit::ERROR } else { exit::OK })
}

fn json_report(report: &GcReport, mode: Mode) -> serde_json::Value {
    json!({
        "format_version": 1,
        "mode": mode,
        "regions": report.regions,
        "found": report.found,
        "errors": report.errors,
        "summary": {
            "deleted": report.count(Outcome::Deleted),
            "would_delete": report.count(Outcome::WouldDelete),
            "kept": report.count(Outcome::Kept),
            "failed": report.count(Outcome::Failed),
        },
    })
}

/// One line per thing drctl might own; tables that are not are counted per
/// region, not listed (an account may hold hundreds).
fn text(report: &GcReport, mode: Mode) -> String {
    let heading = if mode == Mode::DryRun { "drctl gc (dry run)" } else { "drctl gc" };
    let mut out = format!("{heading} in {}\n", report.regions.join(", "));
    for found in report.found.iter().filter(|f| f.kind != Kind::OtherTable) {
        out.push_str(&line(found));
    }
    for region in &report.regions {
        let others = report.found.iter().filter(|f| f.kind == Kind::OtherTable && &f.region == region).count();
        if others > 0 {
            out.push_str(&format!("  {region}: {others} other tables left alone (not named drctl-drill-*)\n"));
        }
    }
    for error in &report.errors {
        out.push_str(&format!("  error: {error}\n"));
    }
    let summary = match mode {
        Mode::DryRun => format!("{} would be deleted", report.count(Outcome::WouldDelete)),
        Mode::Delete => format!("{} deleted", report.count(Outcome::Deleted)),
    };
    let kept = report.found.iter().filter(|f| f.outcome == Outcome::Kept && f.kind != Kind::OtherTable).count();
    out.push_str(&format!("{summary}, {kept} kept, {} failed\n", report.count(Outcome::Failed) + report.errors.len()));
    out
}

fn line(found: &Found) -> String {
    let outcome = match found.outcome {
        Outcome::Deleted => "deleted",
        Outcome::WouldDelete => "would delete",
        Outcome::Kept => "kept",
        Outcome::Failed => "FAILED",
    };
    let what = match found.kind {
        Kind::PreviewChangeSet => format!("preview change set {} of {}", found.name, found.stack.as_deref().unwrap_or("?")),
        Kind::ReviewStack => format!("review stack {}", found.name),
        Kind::ScratchTable | Kind::OtherTable => format!("table {}", found.name),
        Kind::Export => format!("exports {}", found.name),
        Kind::Canary => found.name.clone(),
    };
    format!("  {outcome:<12} {what} ({}): {}\n", found.region, found.why)
}
