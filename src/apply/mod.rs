//! Apply: the changed stacks of a plan deployed through
//! change sets, followed to a terminal state, with the destructive-change
//! guard in front.
//!
//! # Guarantees
//! - A change set that removes or replaces a backup vault is refused: a
//!   desired policy never loses its vault. The only way to remove drctl's
//!   stacks is `--prune` of orphans, and vaults and their recovery points
//!   are retained even then (`DeletionPolicy: Retain`).
//! - A stack is changed only when its tags say it is drctl's, for this
//!   policy (or the bootstrap): a stack that merely has the name is refused.
//! - Only the change set this run created is executed, by the id
//!   CloudFormation returned; its name carries a nonce, so nobody can
//!   prepare it in advance (see [`changeset`]).
//! - Change sets and executions carry client request tokens: a retried
//!   call never applies twice.
//! - One policy's failure is isolated and reported; the others apply.
//!
//! # Caveats
//! - A stack already being changed by someone else is waited for, never
//!   fought; if it does not settle before the deadline the policy fails.

pub mod progress;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;

use crate::aws::{Aws, describe, error_code};
use crate::plan::changeset::{self, Created};
use crate::plan::{self, Action, OrphanStack, Plan, PolicyPlan, StackStatus as PlanStatus};
use crate::policy::{Checked, LoadedPolicy};
use crate::render::{self, Stack};

mod bootstrap;
mod format;
mod prune;
mod shared;
mod stack;

use bootstrap::BOOTSTRAP_FIX;
pub use bootstrap::{Bootstrapped, bootstrap, bootstrap_central, bootstrap_regions, service_role};
pub use format::{outcome_text, report_text};
pub use progress::{Counts, Progress};
pub use prune::{prune_in_accounts, prune_orphans};
pub use shared::{SharedOutcomes, apply_shared};
use stack::{delete_stack, describe_stack, is_current};
pub use stack::{deploy_stack, not_ours};

/// How to apply.
#[derive(Clone, Debug)]
pub struct Options {
    pub commit: Option<String>,
    /// Delete the stacks of policies no longer desired (vaults are retained).
    pub prune: bool,
    pub concurrency: usize,
    /// How long one stack operation may take.
    pub stack_deadline: Duration,
    /// What became of the shared stacks this run applied before any policy
    /// ([`apply_shared`]): each member policy reports them as its own.
    pub shared: SharedOutcomes,
}

impl Default for Options {
    fn default() -> Self {
        Self { commit: None, prune: false, concurrency: 4, stack_deadline: Duration::from_secs(1800), shared: SharedOutcomes::default() }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum StackOutcome {
    Unchanged,
    NoChanges,
    /// Executed: the stack's status and the change set that did it.
    Applied {
        status: String,
        change_set_id: String,
    },
    Refused {
        why: String,
    },
    Failed {
        status: String,
        reasons: Vec<String>,
        fix: Option<String>,
    },
    Deleted {
        retained_vaults: Vec<String>,
    },
}

impl StackOutcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Refused { .. } | Self::Failed { .. })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StackReport {
    pub stack: String,
    pub region: String,
    #[serde(flatten)]
    pub outcome: StackOutcome,
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicyReport {
    pub name: String,
    pub stacks: Vec<StackReport>,
    /// PITR set on the table (from → to), when it differed.
    pub pitr: Option<String>,
    pub error: Option<String>,
}

impl PolicyReport {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.stacks.iter().any(|s| s.outcome.is_failure())
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub policies: Vec<PolicyReport>,
    pub pruned: Vec<StackReport>,
    /// Orphans left alone (no `--prune`).
    pub orphans_left: Vec<OrphanStack>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.policies.iter().any(PolicyReport::failed) || self.pruned.iter().any(|s| s.outcome.is_failure())
    }
}

/// Applies every changed policy of `plan`, concurrently within a bound.
pub async fn apply(aws: &Aws, checked: &Checked, plan: &Plan, options: &Options, progress: &Progress) -> Report {
    // Each account of the plan's shared stacks and orphans, reached once.
    let accounts = stack_accounts(aws, checked, plan).await;
    let mut shared = SharedOutcomes::default();
    for (account, in_account) in &accounts {
        let part = plan.stacks_in(*account);
        shared.extend(match in_account {
            Ok(in_account) => apply_shared(in_account, checked, &part, options, progress).await,
            Err(why) => SharedOutcomes::failed(&part, why),
        });
    }
    let options = &Options { shared, ..options.clone() };
    let valid: BTreeMap<&str, &LoadedPolicy> = checked.valid().map(|p| (p.policy.metadata.name.as_str(), p)).collect();
    let work =
        plan.policies.iter().filter(|p| p.has_changes() || p.error.is_some()).filter_map(|p| Some((p, *valid.get(p.name.as_str())?)));
    let mut policies: Vec<PolicyReport> = futures_util::stream::iter(work.map(|(planned, loaded)| async move {
        let account = loaded.policy.spec.account.as_deref().and_then(|id| checked.account(id));
        match aws.in_account(account).await {
            Ok(in_account) => apply_policy(&in_account, planned, loaded, options, progress).await,
            Err(error) => PolicyReport { name: planned.name.clone(), stacks: Vec::new(), pitr: None, error: Some(error.to_string()) },
        }
    }))
    .buffer_unordered(options.concurrency.max(1))
    .collect()
    .await;
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    let (pruned, orphans_left) = prune_in_accounts(&accounts, plan, options, progress).await;
    progress.finish();
    Report { policies, pruned, orphans_left }
}

/// The [`Aws`] of every account `plan`'s shared stacks and orphans are
/// in, or why drctl cannot act there.
pub async fn stack_accounts<'a>(
    aws: &'a Aws,
    checked: &Checked,
    plan: &'a Plan,
) -> Vec<(Option<&'a str>, Result<crate::aws::InAccount<'a>, String>)> {
    let mut reached = Vec::new();
    for account in plan.stack_accounts() {
        let in_account = aws.in_account(account.and_then(|id| checked.account(id))).await.map_err(|e| e.to_string());
        reached.push((account, in_account));
    }
    reached
}

/// Applies one policy's planned stacks (DR vaults first) and its PITR.
pub async fn apply_policy(aws: &Aws, planned: &PolicyPlan, loaded: &LoadedPolicy, options: &Options, progress: &Progress) -> PolicyReport {
    let mut report = PolicyReport { name: planned.name.clone(), stacks: Vec::new(), pitr: None, error: planned.error.clone() };
    if report.error.is_some() {
        return report;
    }
    let stacks = match render::render(&loaded.policy) {
        Ok(stacks) => stacks,
        Err(error) => {
            report.error = Some(error.to_string());
            return report;
        }
    };
    // DR vaults first: the plan's copy actions point at them.
    for stack in &stacks {
        let Some(stack_plan) = planned.stacks.iter().find(|s| s.stack == stack.name && s.region == stack.region) else { continue };
        let outcome = if stack_plan.status == PlanStatus::Unchanged {
            StackOutcome::Unchanged
        } else {
            let tags = plan::stack_tags(stack, &planned.content_hash, options.commit.as_deref(), &plan::policy_regions(&loaded.policy));
            match service_role(aws, &stack.region).await {
                Ok(role) => deploy_stack(aws, stack, tags, Some(&role), options, progress).await,
                Err(why) => StackOutcome::Failed { status: "NONE".into(), reasons: vec![why], fix: Some(BOOTSTRAP_FIX.into()) },
            }
        };
        let failed = outcome.is_failure();
        report.stacks.push(StackReport { stack: stack.name.clone(), region: stack.region.clone(), outcome });
        if failed {
            return report;
        }
    }
    // The shared stacks were applied before any policy; a member reports them.
    for stack_plan in planned.stacks.iter().filter(|s| s.role.is_shared() && s.status != PlanStatus::Unchanged) {
        let outcome = options.shared.outcome(&stack_plan.region, &stack_plan.stack);
        let failed = outcome.is_failure();
        report.stacks.push(StackReport { stack: stack_plan.stack.clone(), region: stack_plan.region.clone(), outcome });
        if failed {
            return report;
        }
    }
    if let Some(change) = &planned.pitr {
        match set_pitr(aws, &change.table, &change.region, change.to).await {
            Ok(()) => report.pitr = Some(format!("{} → {}", on_off(change.from), on_off(Some(change.to)))),
            Err(error) => report.error = Some(error),
        }
    }
    report
}

fn on_off(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "on",
        Some(false) => "off",
        None => "no table",
    }
}

async fn set_pitr(aws: &Aws, table: &str, region: &str, enabled: bool) -> Result<(), String> {
    let spec = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(enabled)
        .build()
        .map_err(|e| e.to_string())?;
    aws.region(region)
        .dynamodb
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("setting point-in-time recovery of {table} in {region}: {}", describe(&e)))
}
