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
    /// Instead, deploy the central vaults of this backup account (where
    /// policies' `copies` name it), with its administrator's credentials:
    /// `drctl-central` in each such region.
    #[arg(long, value_name = "ID", conflicts_with = "state_table")]
    pub backup_account: Option<String>,
    /// With --backup-account: admit copies from every account of this AWS
    /// Organization (`o-...`, by `aws:PrincipalOrgID`) instead of the
    /// policies' source accounts by id.
    #[arg(long, value_name = "ORG_ID", requires = "backup_account")]
    pub organization_id: Option<String>,
    /// With --backup-account: AWS Backup Vault Lock (governance mode) on the
    /// central vaults, as `MIN:MAX` retention (like `30d:3650d`): no
    /// recovery point can be deleted before MIN, none kept past MAX.
    #[arg(long, value_name = "MIN:MAX", requires = "backup_account")]
    pub lock: Option<String>,
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
    if let Some(account) = &args.backup_account {
        let lock = args.lock.as_deref().map(central_lock).transpose()?;
        return central(&runtime, &aws, &checked, (account, args.organization_id.as_deref(), lock), &progress);
    }
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

/// `--backup-account ID`: the central vaults of `account`, deployed only
/// with that account's own credentials (drctl never creates a vault in an
/// account it was not asked to act in).
fn central(
    runtime: &tokio::runtime::Runtime,
    aws: &crate::aws::Aws,
    checked: &policy::Checked,
    (account, organization, lock): (&str, Option<&str>, Option<(u64, u64)>),
    progress: &Progress,
) -> anyhow::Result<u8> {
    if let Some(id) = organization {
        let well_formed =
            id.len() >= 12 && id.strip_prefix("o-").is_some_and(|rest| rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        anyhow::ensure!(well_formed, "--organization-id {id}: not an AWS Organization id (o- and 10 to 32 lowercase letters or digits)");
    }
    let caller = runtime.block_on(aws.caller_account()).map_err(|why| anyhow::anyhow!("who are these credentials? {why}"))?;
    anyhow::ensure!(
        caller == account,
        "these credentials act in account {caller}, not in the backup account {account}: use its administrator's"
    );
    let centrals: Vec<_> = crate::render::central::centrals(checked.valid().map(|p| &p.policy), account)
        .into_iter()
        .map(|c| crate::render::central::Central { organization: organization.map(str::to_string), lock, ..c })
        .collect();
    anyhow::ensure!(!centrals.is_empty(), "no valid policy copies into account {account} (copies: [{{ region, account: \"{account}\" }}])");
    let mut failed = false;
    for central in &centrals {
        let outcome = runtime.block_on(apply::bootstrap_central(aws, central, progress));
        progress.finish();
        let text = match &outcome {
            Ok(outcome) => apply::outcome_text(outcome),
            Err(error) => format!("not rendered: {error}"),
        };
        failed |= outcome.as_ref().map_or(true, |o| o.is_failure());
        let vaults: Vec<String> = central
            .vaults
            .iter()
            .map(|(vault, sources)| format!("{vault} (from {})", sources.iter().cloned().collect::<Vec<_>>().join(", ")))
            .collect();
        println!("{} ({}): {text} — vaults: {}", crate::render::central::CENTRAL_STACK, central.region, vaults.join(", "));
    }
    Ok(if failed || checked.has_errors() { exit::ERROR } else { exit::OK })
}

/// `--lock MIN:MAX` as retention days, MIN at least 1 and not above MAX.
fn central_lock(text: &str) -> anyhow::Result<(u64, u64)> {
    let parse = |part: &str| -> anyhow::Result<u64> {
        let duration: crate::policy::Duration = part.parse().map_err(|e| anyhow::anyhow!("--lock {text}: {part}: {e}"))?;
        Ok(duration.days_ceil())
    };
    let (min, max) = text.split_once(':').context("--lock takes MIN:MAX, like 30d:3650d")?;
    let (min, max) = (parse(min)?, parse(max)?);
    anyhow::ensure!(min >= 1 && min <= max, "--lock {text}: the minimum must be at least 1d and not above the maximum");
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lock_is_min_and_max_retention_in_days() {
        assert_eq!(super::central_lock("30d:3650d").unwrap(), (30, 3650));
        assert_eq!(super::central_lock("1w:52w").unwrap(), (7, 364));
        for bad in ["30d", "0d:10d", "40d:30d", "x:30d"] {
            assert!(super::central_lock(bad).is_err(), "{bad}");
        }
    }
}
