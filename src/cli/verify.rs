//! `drctl verify NAME [--region R]...`: run the restore drill of one policy
//! now, in every region of its `verify.regions` (or the regions given),
//! under the policy's lease; record it in the state, announce it on SNS,
//! and print one block per region. Exit 3 when any region's drill failed.

use anyhow::{Context, bail};
use clap::Args;

use super::{AwsArgs, DrillArgs, LeaseArgs, SourceArgs, StateArgs, TextOrJson, exit, inputs, read_policies};
use crate::apply::Progress;
use crate::drill::report::text;
use crate::policy::{self, TablePolicy};
use crate::reconcile::{self, Mode, Status};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub lease: LeaseArgs,
    #[command(flatten)]
    pub drill: DrillArgs,
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
    let set = read_policies(&args.source)?;
    let commit = set.commit();
    let checked = policy::check(inputs(&set));
    let loaded = checked
        .valid()
        .find(|p| p.policy.metadata.name == args.name)
        .with_context(|| format!("no valid policy named `{}` (run `drctl validate` to see why)", args.name))?;
    let drill = drill_options(args, &loaded.policy)?;
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    let store = args.state.open(&aws)?;
    let mut options = reconcile::Options { drill, ..args.lease.reconcile_options(&args.drill, commit, 1, false, Mode::DrillNow)? };
    args.drill.share_slots(&mut options.drill, &store, args.lease.lease_ttl);
    let outcome = runtime.block_on(reconcile::verify(&aws, store.as_ref(), loaded, checked.accounts.as_ref(), &options, &Progress::Quiet));
    match args.format {
        TextOrJson::Text => {
            print!("{}", outcome.drills.iter().map(text).collect::<Vec<_>>().join("\n"));
            if let Some(id) = &outcome.sns_message_id {
                println!("announced on SNS (message {id})");
            }
            for error in &outcome.errors {
                eprintln!("drctl: {error}");
            }
        }
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
    }
    Ok(match outcome.status {
        Status::Reconciled | Status::DrillPassed if outcome.errors.is_empty() => exit::OK,
        Status::DrillFailed => exit::DRILL_FAILED,
        Status::Held { owner, expires } => {
            eprintln!("drctl: {} is being driven by {owner} (lease until {})", args.name, crate::state::rfc3339(expires));
            exit::ERROR
        }
        _ => exit::ERROR,
    })
}

fn drill_options(args: &VerifyArgs, policy: &TablePolicy) -> anyhow::Result<crate::drill::Options> {
    Ok(crate::drill::Options { regions: regions(policy, &args.regions)?, ..args.drill.options()? })
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
