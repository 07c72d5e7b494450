//! AWS Backup's quotas against what the rendered stacks would create, per
//! Region: backup vaults, backup plans, and resource assignments
//! (selections) per plan. Counted from the templates themselves, so the
//! projection follows whatever the renderer creates.
//!
//! The quotas, as AWS Backup's quotas page names them (AWS General
//! Reference, "AWS Backup endpoints and quotas"):
//! - "Total vaults (backup and logically air-gapped) per Region per
//!   account": 300, adjustable;
//! - "Backup plans per Region per account": 300, adjustable;
//! - "Resource assignments per backup plan": 100, not adjustable.
//!
//! # Caveats
//! - One account: every stack is taken to deploy into the same account.
//! - Only drctl's own resources are counted here; vaults and plans others
//!   created in the account take from the same quotas (the dry run can
//!   count them, `validate` is offline).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Stack;
use crate::policy::{Finding, LoadedPolicy};

/// One of AWS Backup's quotas drctl's stacks take from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quota {
    /// The key of the `--aws-quota KEY=N` override.
    pub key: &'static str,
    /// AWS's name of the quota.
    pub name: &'static str,
    /// AWS's default value.
    pub default: usize,
    pub adjustable: bool,
}

pub const BACKUP_VAULTS: Quota = Quota {
    key: "backup-vaults",
    name: "Total vaults (backup and logically air-gapped) per Region per account",
    default: 300,
    adjustable: true,
};
pub const BACKUP_PLANS: Quota = Quota { key: "backup-plans", name: "Backup plans per Region per account", default: 300, adjustable: true };
pub const SELECTIONS_PER_PLAN: Quota =
    Quota { key: "selections-per-plan", name: "Resource assignments per backup plan", default: 100, adjustable: false };

/// Every quota, in the order reports list them.
pub const QUOTAS: [Quota; 3] = [BACKUP_VAULTS, BACKUP_PLANS, SELECTIONS_PER_PLAN];

/// The values drctl judges against: per Region, the value the account has
/// applied (read from Service Quotas by the commands that reach AWS) or the
/// value the operator gave (`--aws-quota`), the lower of both when there
/// are both (a given value below the applied one keeps headroom; one above
/// it would be refused by AWS); AWS's default when there is neither.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    given: BTreeMap<&'static str, usize>,
    applied: BTreeMap<String, BTreeMap<&'static str, usize>>,
}

/// An override drctl refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{given:?} is not KEY=N: write e.g. backup-vaults=500 (keys: backup-vaults, backup-plans)")]
    Syntax { given: String },
    #[error("no AWS Backup quota {key:?} drctl counts (keys: backup-vaults, backup-plans)")]
    Unknown { key: String },
    #[error("{name:?} is fixed by AWS at {default}: it cannot be raised")]
    NotAdjustable { name: &'static str, default: usize },
}

impl Limits {
    /// AWS's defaults with `overrides` (`backup-vaults=500`): the values of
    /// quotas the account raised. A value below the default is taken too
    /// (an organisation may keep headroom).
    pub fn with_overrides<'a>(overrides: impl IntoIterator<Item = &'a str>) -> Result<Self, LimitError> {
        let mut limits = Self::default();
        for given in overrides {
            let syntax = || LimitError::Syntax { given: given.to_string() };
            let (key, value) = given.split_once('=').ok_or_else(syntax)?;
            let value: usize = value.trim().parse().map_err(|_| syntax())?;
            let quota = QUOTAS.iter().find(|q| q.key == key.trim()).ok_or_else(|| LimitError::Unknown { key: key.trim().to_string() })?;
            if !quota.adjustable && value != quota.default {
                return Err(LimitError::NotAdjustable { name: quota.name, default: quota.default });
            }
            limits.given.insert(quota.key, value);
        }
        Ok(limits)
    }

    /// Takes the value the account has applied for `quota` in `region`.
    pub fn set_applied(&mut self, region: &str, quota: &Quota, value: usize) {
        self.applied.entry(region.to_string()).or_default().insert(quota.key, value);
    }

    /// The limit of `quota` in `region`.
    pub fn of(&self, region: &str, quota: &Quota) -> usize {
        let given = self.given.get(quota.key).copied();
        let applied = self.applied.get(region).and_then(|values| values.get(quota.key)).copied();
        match (given, applied) {
            (Some(given), Some(applied)) => given.min(applied),
            (Some(value), None) | (None, Some(value)) => value,
            (None, None) => quota.default,
        }
    }
}

/// What the stacks would create in one Region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub region: String,
    pub backup_vaults: usize,
    pub backup_plans: usize,
    /// The most selections any one plan would have.
    pub most_selections_per_plan: usize,
}

impl Usage {
    pub fn of(&self, quota: &Quota) -> usize {
        match quota.key {
            "backup-vaults" => self.backup_vaults,
            "backup-plans" => self.backup_plans,
            _ => self.most_selections_per_plan,
        }
    }
}

/// One Region's use of each quota, for reports (`validate`, the dry run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegionUse {
    pub region: String,
    pub quotas: Vec<QuotaUse>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuotaUse {
    pub key: &'static str,
    pub name: &'static str,
    pub used: usize,
    pub limit: usize,
    pub adjustable: bool,
}

impl RegionUse {
    /// `us-east-1: backup-vaults 2/300, backup-plans 2/300, ...` (the
    /// quotas in use).
    pub fn line(&self) -> String {
        let used: Vec<String> = self.quotas.iter().filter(|q| q.used > 0).map(|q| format!("{} {}/{}", q.key, q.used, q.limit)).collect();
        format!("{}: {}", self.region, used.join(", "))
    }
}

/// Each Region's use of each quota under `limits`.
pub fn report(usage: &[Usage], limits: &Limits) -> Vec<RegionUse> {
    usage
        .iter()
        .map(|u| RegionUse {
            region: u.region.clone(),
            quotas: QUOTAS
                .iter()
                .map(|q| QuotaUse { key: q.key, name: q.name, used: u.of(q), limit: limits.of(&u.region, q), adjustable: q.adjustable })
                .collect(),
        })
        .collect()
}

/// A quota the stacks would exceed in a Region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exceeded {
    pub quota: Quota,
    pub region: String,
    pub needed: usize,
    pub limit: usize,
    /// The policy whose stack is the first beyond the limit, in the order
    /// given (the one a review should look at).
    pub first_over: Option<String>,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.quota.key {
            "backup-vaults" => "backup vaults",
            "backup-plans" => "backup plans",
            _ => "resource assignments in one backup plan",
        };
        write!(
            f,
            "the policies would need {} {what} in {}, beyond AWS Backup's quota \"{}\" of {}",
            self.needed, self.region, self.quota.name, self.limit
        )
    }
}

/// AWS Backup resources per Region, counted in the templates of `stacks`,
/// with what `others` take in the same Regions.
pub fn usage(stacks: &[Stack], others: &BTreeMap<String, Usage>) -> Vec<Usage> {
    let mut by_region: BTreeMap<&str, Usage> = BTreeMap::new();
    for (region, usage) in others {
        by_region.insert(region, Usage { most_selections_per_plan: 0, ..usage.clone() });
    }
    for stack in stacks {
        let usage = by_region.entry(&stack.region).or_insert_with(|| Usage { region: stack.region.clone(), ..Usage::default() });
        let counts = count(stack);
        usage.backup_vaults += counts.backup_vaults;
        usage.backup_plans += counts.backup_plans;
        usage.most_selections_per_plan = usage.most_selections_per_plan.max(counts.most_selections_per_plan);
    }
    by_region.into_values().collect()
}

/// Every quota `stacks` (in the order given) would exceed under `limits`,
/// on top of what `others` (per Region) already take.
pub fn exceeded(stacks: &[Stack], limits: &Limits, others: &BTreeMap<String, Usage>) -> Vec<Exceeded> {
    let mut running: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (region, usage) in others {
        for quota in [BACKUP_VAULTS, BACKUP_PLANS] {
            running.insert((region.as_str(), quota.key), usage.of(&quota));
        }
    }
    let mut found: BTreeMap<(&str, &str), Exceeded> = BTreeMap::new();
    for stack in stacks {
        let counts = count(stack);
        for quota in QUOTAS {
            let limit = limits.of(&stack.region, &quota);
            let added = counts.of(&quota);
            if added == 0 {
                continue;
            }
            // Selections count per plan, the others per Region.
            let total = if quota.key == SELECTIONS_PER_PLAN.key {
                added
            } else {
                let total = running.entry((stack.region.as_str(), quota.key)).or_default();
                *total += added;
                *total
            };
            if total <= limit {
                continue;
            }
            let entry = found.entry((stack.region.as_str(), quota.key)).or_insert_with(|| Exceeded {
                quota,
                region: stack.region.clone(),
                needed: total,
                limit,
                first_over: stack.policy.clone().or_else(|| stack.members.first().cloned()),
            });
            entry.needed = entry.needed.max(total);
        }
    }
    let mut all: Vec<Exceeded> = found.into_values().collect();
    all.sort_by_key(|e| (e.region.clone(), QUOTAS.iter().position(|q| q.key == e.quota.key)));
    all
}

/// The stacks the valid policies of a set would deploy, rendered once:
/// where they go, and what they take of AWS Backup's quotas.
pub struct Projection {
    stacks: Vec<Stack>,
}

impl Projection {
    pub fn of(checked: &crate::policy::Checked) -> Self {
        let valid: Vec<&crate::policy::TablePolicy> = checked.valid().map(|p| &p.policy).collect();
        let mut stacks: Vec<Stack> = valid.iter().filter_map(|p| super::render(p).ok()).flatten().collect();
        // A shared stack that does not render leaves its members' own errors
        // to the plan; the stacks that do still count.
        stacks.extend(super::shared::render(valid.iter().copied()).unwrap_or_default());
        // Quotas are per account and Region: a stack of another account (a
        // policy's `spec.account` with a role) counts under
        // `<account>/<region>`, where AWS's defaults apply (the applied
        // values read are those of drctl's own account).
        let roles = checked.roles_by_policy();
        let account_of = |stack: &Stack| {
            let policy = stack.policy.as_ref().or(stack.members.first())?;
            roles.get(policy.as_str()).copied().flatten().map(str::to_string)
        };
        for stack in &mut stacks {
            if let Some(account) = account_of(stack) {
                stack.region = format!("{account}/{}", stack.region);
            }
        }
        Self { stacks }
    }

    /// The Regions of drctl's own account the stacks deploy to.
    pub fn regions(&self) -> Vec<String> {
        let regions: std::collections::BTreeSet<&str> =
            self.stacks.iter().map(|s| s.region.as_str()).filter(|region| !region.contains('/')).collect();
        regions.into_iter().map(str::to_string).collect()
    }

    /// What the stacks take per Region (`others`: what vaults and plans not
    /// drctl's take), with an error finding added to `checked` per quota
    /// they would exceed, on the file of the first policy beyond it: that
    /// policy is then invalid, and no stage acts on it.
    pub fn judge(&self, checked: &mut crate::policy::Checked, limits: &Limits, others: &BTreeMap<String, Usage>) -> Vec<Usage> {
        let findings: Vec<Finding> = {
            let policies: Vec<&LoadedPolicy> = checked.valid().collect();
            exceeded(&self.stacks, limits, others).into_iter().filter_map(|e| finding(&policies, &e)).collect()
        };
        checked.findings.extend(findings);
        crate::policy::finding::sort(&mut checked.findings);
        usage(&self.stacks, others)
    }
}

/// [`Projection::judge`] of the set's own stacks, rendered here.
pub fn judge(checked: &mut crate::policy::Checked, limits: &Limits, others: &BTreeMap<String, Usage>) -> Vec<Usage> {
    Projection::of(checked).judge(checked, limits, others)
}

/// The finding of `e` on the file of the first policy beyond the quota.
fn finding(policies: &[&LoadedPolicy], e: &Exceeded) -> Option<Finding> {
    let loaded = policies.iter().find(|p| Some(&p.policy.metadata.name) == e.first_over.as_ref())?;
    let hint = if e.quota.adjustable {
        format!(
            "ask AWS for more in Service Quotas and tell drctl with --aws-quota {}=N, or spread the tables over other Regions or accounts",
            e.quota.key
        )
    } else {
        "AWS does not raise this quota: spread the tables over more plans".to_string()
    };
    let at = if loaded.policy.spec.region == e.region { "spec.region" } else { "spec.backup.copies" };
    Some(Finding::error(&loaded.file, loaded.spans.value(at), "aws-quota", e.to_string(), hint))
}

/// The AWS Backup resources of one stack's template.
fn count(stack: &Stack) -> Usage {
    let mut usage = Usage { region: stack.region.clone(), ..Usage::default() };
    let Some(resources) = stack.template.get("Resources").and_then(|r| r.as_mapping()) else {
        return usage;
    };
    let mut selections: BTreeMap<String, usize> = BTreeMap::new();
    for (_, resource) in resources {
        match resource.get("Type").and_then(|t| t.as_str()) {
            Some("AWS::Backup::BackupVault") => usage.backup_vaults += 1,
            Some("AWS::Backup::BackupPlan") => usage.backup_plans += 1,
            Some("AWS::Backup::BackupSelection") => {
                let plan = resource
                    .get("Properties")
                    .and_then(|p| p.get("BackupPlanId"))
                    .map(|id| yaml_serde::to_string(id).unwrap_or_default())
                    .unwrap_or_default();
                *selections.entry(plan).or_default() += 1;
            }
            _ => {}
        }
    }
    usage.most_selections_per_plan = selections.into_values().max().unwrap_or(0);
    usage
}

#[cfg(test)]
mod tests;
