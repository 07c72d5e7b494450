//! `drctl verify NAME [--region R]`: run the restore drill of one policy now.

use anyhow::Context;
use clap::Args;

use super::{AwsArgs, SourceArgs, TextOrJson, exit, inputs, read_policies};
use crate::drill::{self, DrillResult};
use crate::policy;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The policy to prove.
    pub name: String,
    /// The region to drill in (default: the policy's primary region).
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<u8> {
    let checked = policy::check(inputs(&read_policies(&args.source)?));
    let loaded = checked
        .valid()
        .find(|p| p.policy.metadata.name == args.name)
        .with_context(|| format!("no valid policy named `{}` (run `drctl validate` to see why)", args.name))?;
    let region = args.region.clone().unwrap_or_else(|| loaded.policy.spec.region.clone());
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    let result = runtime.block_on(drill::run(&aws, &loaded.policy, &region, &drill::Options::default()));
    match args.format {
        TextOrJson::Text => print!("{}", text(&result)),
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&result)?),
    }
    Ok(if result.passed() { exit::OK } else { exit::DRILL_FAILED })
}

fn text(result: &DrillResult) -> String {
    let verdict = if result.passed() { "PASSED" } else { "FAILED" };
    let mut out = format!("drill {} of {} in {}: {verdict}\n", result.drill_id, result.policy, result.region);
    if let Some(point) = &result.recovery_point {
        out.push_str(&format!("  recovery point {}\n", point.arn));
    }
    if let Some(table) = &result.scratch_table {
        out.push_str(&format!("  scratch table {table} ({:?})\n", result.scratch_cleanup));
    }
    for check in &result.checks {
        out.push_str(&format!("  {} {}: {}\n", if check.passed { "✓" } else { "✗" }, check.name, check.reason));
    }
    if let Some(rto) = &result.rto {
        out.push_str(&format!(
            "  RTO {:.1}s (objective {}s){}\n",
            rto.measured_seconds,
            rto.objective_seconds,
            if rto.met { "" } else { " MISSED" }
        ));
    }
    if let Some(rpo) = &result.rpo {
        out.push_str(&format!(
            "  RPO {:.1}s (objective {}s){}\n",
            rpo.measured_seconds,
            rpo.objective_seconds,
            if rpo.met { "" } else { " MISSED" }
        ));
    }
    for reason in &result.reasons {
        out.push_str(&format!("  ! {reason}\n"));
    }
    out
}
