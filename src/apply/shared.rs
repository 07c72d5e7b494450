//! The stacks policies share, applied once per run before any policy:
//! vault stacks first (plans name their vaults and import their roles),
//! then plan stacks. Two runs that render the same stack meet in
//! CloudFormation: the second waits for the first and finds nothing to do.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{BOOTSTRAP_FIX, Options, PlanStatus, Progress, StackOutcome, deploy_stack, is_current, service_role};
use crate::aws::Aws;
use crate::plan::{self, Plan};
use crate::policy::Checked;
use crate::render::{self, StackRole};

/// What became of each shared stack of a run, by Region and name.
#[derive(Clone, Debug, Default)]
pub struct SharedOutcomes(Arc<BTreeMap<(String, String), StackOutcome>>);

impl SharedOutcomes {
    /// The outcome of the shared stack `name` in `region`. One this run did
    /// not apply is a failure: its members must not be recorded as applied
    /// on the strength of a stack nobody deployed.
    pub fn outcome(&self, region: &str, name: &str) -> StackOutcome {
        self.0.get(&(region.to_string(), name.to_string())).cloned().unwrap_or_else(|| StackOutcome::Failed {
            status: "NONE".into(),
            reasons: vec![format!("the shared stack {name} in {region} was not applied in this run")],
            fix: Some("run drctl reconcile again".into()),
        })
    }
}

impl SharedOutcomes {
    /// Adds `other`'s outcomes (another account's stacks, named apart).
    pub fn extend(&mut self, other: SharedOutcomes) {
        let mut merged = (*self.0).clone();
        merged.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.0 = Arc::new(merged);
    }

    /// Every changed shared stack of `plan` failed for `why`.
    pub fn failed(plan: &Plan, why: &str) -> Self {
        let outcomes = plan
            .shared
            .iter()
            .filter(|s| s.plan.status != PlanStatus::Unchanged)
            .map(|s| {
                let outcome = StackOutcome::Failed { status: "NONE".into(), reasons: vec![why.to_string()], fix: None };
                ((s.plan.region.clone(), s.plan.stack.clone()), outcome)
            })
            .collect();
        Self(Arc::new(outcomes))
    }
}

/// Applies every changed shared stack of `plan`: vaults, then plans. A plan
/// stack whose vault stack failed is not tried.
pub async fn apply_shared(aws: &Aws, checked: &Checked, plan: &Plan, options: &Options, progress: &Progress) -> SharedOutcomes {
    let mut outcomes = BTreeMap::new();
    let changed: Vec<&plan::SharedStackPlan> = plan.shared.iter().filter(|s| s.plan.status != PlanStatus::Unchanged).collect();
    if changed.is_empty() {
        return SharedOutcomes::default();
    }
    let stacks = match render::shared::render(checked.valid().map(|p| &p.policy)) {
        Ok(stacks) => stacks,
        Err(error) => return SharedOutcomes::failed(plan, &error.to_string()),
    };
    let mut failed_vaults = Vec::new();
    for role in [StackRole::Vault, StackRole::Plan] {
        for shared in changed.iter().filter(|s| s.plan.role == role) {
            let key = (shared.plan.region.clone(), shared.plan.stack.clone());
            let Some(stack) = stacks.iter().find(|s| s.name == shared.plan.stack && s.region == shared.plan.region) else { continue };
            let first = stack.members.first().and_then(|m| checked.valid().find(|p| &p.policy.metadata.name == m)).map(|p| &p.policy);
            let vault = first.map(|p| render::shared::vault_stack_name(p, &p.spec.region));
            let outcome = match vault.filter(|v| role == StackRole::Plan && failed_vaults.contains(v)) {
                Some(vault) => {
                    StackOutcome::Failed { status: "NONE".into(), reasons: vec![format!("its vault stack {vault} failed")], fix: None }
                }
                None => {
                    let regions = render::shared::tag_regions(stack, first);
                    let tags = plan::stack_tags(stack, &plan::deployed::template_hash(stack), options.commit.as_deref(), &regions);
                    // A replica that waited for the lease finds the stacks applied.
                    if is_current(aws, stack).await {
                        StackOutcome::Unchanged
                    } else {
                        match service_role(aws, &stack.region).await {
                            Ok(role) => deploy_stack(aws, stack, tags, Some(&role), options, progress).await,
                            Err(why) => StackOutcome::Failed { status: "NONE".into(), reasons: vec![why], fix: Some(BOOTSTRAP_FIX.into()) },
                        }
                    }
                }
            };
            if role == StackRole::Vault && outcome.is_failure() {
                failed_vaults.push(stack.name.clone());
            }
            outcomes.insert(key, outcome);
        }
    }
    SharedOutcomes(Arc::new(outcomes))
}
