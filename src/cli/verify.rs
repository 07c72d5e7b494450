//! `drctl verify NAME [--region R]...`: run the restore drill of one policy
//! now, in every region of its `verify.regions` (or the regions given), and
//! print one block per region. Exit 3 when any region's drill failed.

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use super::{AwsArgs, SourceArgs, TextOrJson, exit, inputs, read_policies};
use crate::drill::{self, DrillResult, NoJournal};
use crate::policy::{self, TablePolicy};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The policy to prove.
    pub name: String,
    /// Drill only in this region (repeatable; each must be in the policy's
    /// `verify.regions`). Default: every region of `verify.regions`.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<u8> {
    let checked = policy::check(inputs(&read_policies(&args.source)?));
    let loaded = checked
        .valid()
        .find(|p| p.policy.metadata.name == args.name)
        .with_context(|| format!("no valid policy named `{}` (run `drctl validate` to see why)", args.name))?;
    let options = drill::Options { regions: regions(&loaded.policy, &args.regions)?, ..drill::Options::default() };
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    let results = runtime.block_on(drill::prove(&aws, &loaded.policy, &options, &NoJournal));
    let passed = !results.is_empty() && results.iter().all(DrillResult::passed);
    match args.format {
        TextOrJson::Text => print!("{}", results.iter().map(text).collect::<Vec<_>>().join("\n")),
        TextOrJson::Json => {
            let verdict = if passed { "passed" } else { "failed" };
            let document = json!({ "policy": args.name, "verdict": verdict, "drills": results });
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
    }
    Ok(if passed { exit::OK } else { exit::DRILL_FAILED })
}

/// The regions to drill: those given (each one of `verify.regions`, checked
/// before any AWS call), or `None` for all of `verify.regions`.
fn regions(policy: &TablePolicy, given: &[String]) -> anyhow::Result<Option<Vec<String>>> {
    if given.is_empty() {
        return Ok(None);
    }
    let drilled = &policy.spec.verify.regions;
    if let Some(unknown) = given.iter().find(|r| !drilled.contains(r)) {
        bail!(
            "{unknown} is not a drill region of {} (verify.regions: {}); add it to verify.regions or pick one of those",
            policy.metadata.name,
            drilled.join(", ")
        );
    }
    Ok(Some(given.to_vec()))
}

fn text(result: &DrillResult) -> String {
    let verdict = if result.passed() { "PASSED" } else { "FAILED" };
    let mut out = format!("drill {} of {} in {}: {verdict}\n", result.drill_id, result.policy, result.region);
    if let Some(point) = &result.recovery_point {
        out.push_str(&format!("  recovery point {} (taken {})\n", point.arn, point.created));
    }
    if let Some(job) = &result.copy_job_id {
        out.push_str(&format!("  copied by job {job}\n"));
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
    for gap in &result.gaps {
        out.push_str(&format!("  gap {}: source {}, restored {}; {}\n", gap.setting, gap.source, gap.restored, gap.action));
    }
    for reason in &result.reasons {
        out.push_str(&format!("  ! {reason}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Input;

    fn policy() -> TablePolicy {
        let yaml = include_str!("../../desired/spatial-scans.yaml");
        let checked = policy::check([Input { file: "desired/spatial-scans.yaml".into(), content: Ok(yaml.as_bytes().to_vec()) }]);
        checked.policies[0].policy.clone()
    }

    #[test]
    fn regions_default_to_all_and_must_be_drill_regions() {
        let policy = policy();
        assert_eq!(regions(&policy, &[]).unwrap(), None);
        assert_eq!(regions(&policy, &["us-west-2".into()]).unwrap(), Some(vec!["us-west-2".to_string()]));
        let refused = regions(&policy, &["eu-west-1".into()]).unwrap_err().to_string();
        assert!(refused.contains("eu-west-1 is not a drill region of spatial-scans (verify.regions: us-east-1, us-west-2)"), "{refused}");
    }
}
