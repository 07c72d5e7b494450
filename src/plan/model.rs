//! What a plan says: per policy and per stack, what would change. The data
//! every output format (text, JSON, markdown) prints; the JSON form is the
//! stable, documented machine interface.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::render::StackRole;

/// The whole plan of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// The commit the desired state was read from (absent for a work tree).
    pub commit: Option<String>,
    pub policies: Vec<PolicyPlan>,
    /// The stacks policies share (`backup.vault.dedicated: false`): vaults
    /// first, then plans, each with its members. Applied once per run,
    /// before any policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<SharedStackPlan>,
    /// Stacks tagged as drctl's whose policy is no longer desired.
    pub orphans: Vec<OrphanStack>,
    /// Policy files that could not be planned (invalid), with their findings.
    pub invalid: Vec<InvalidPolicy>,
    /// What the organisation's guardrails say: every breach (the policy is
    /// invalid) and every breach under an exception, shown before the plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<GuardrailNote>,
    /// The guardrails file changed since the base revision: its rules and
    /// the policies it newly breaks, shown as its own section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails_change: Option<crate::policy::guardrails::FileChange>,
    /// AWS Backup's quotas per Region: the account's vaults and plans that
    /// are not drctl's plus what the policies' stacks create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws_backup_usage: Vec<crate::render::quotas::RegionUse>,
    /// Accounts drctl could not act in (their role could not be assumed),
    /// why, and so their policies not planned and no orphan looked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreached: Vec<String>,
}

/// One guardrail finding, where it is and whether it blocks the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuardrailNote {
    pub file: String,
    pub line: usize,
    /// A breach (an error: the policy is not applied); `false` for one an
    /// exception covers.
    pub breach: bool,
    pub message: String,
}

impl Plan {
    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        !self.orphans.is_empty()
            || self.policies.iter().any(PolicyPlan::has_changes)
            || self.shared.iter().any(|s| s.plan.status != StackStatus::Unchanged)
    }

    /// Whether any policy failed to plan or is invalid, or an account
    /// could not be reached.
    pub fn has_errors(&self) -> bool {
        !self.invalid.is_empty() || !self.unreached.is_empty() || self.policies.iter().any(|p| p.error.is_some())
    }
}

impl Plan {
    /// The accounts the plan's shared stacks and orphans are in: `None` for
    /// drctl's own, else an account reached by a role. Always has `None`.
    pub fn stack_accounts(&self) -> BTreeSet<Option<&str>> {
        let mut accounts: BTreeSet<Option<&str>> = BTreeSet::from([None]);
        accounts.extend(self.shared.iter().map(|s| s.account.as_deref()));
        accounts.extend(self.orphans.iter().map(|o| o.account.as_deref()));
        accounts
    }

    /// The shared stacks and orphans of one account (see
    /// [`Plan::stack_accounts`]), with the plan's invalid policies (which
    /// refuse `--prune` everywhere); no policy.
    pub fn stacks_in(&self, account: Option<&str>) -> Plan {
        Plan {
            commit: self.commit.clone(),
            shared: self.shared.iter().filter(|s| s.account.as_deref() == account).cloned().collect(),
            orphans: self.orphans.iter().filter(|o| o.account.as_deref() == account).cloned().collect(),
            invalid: self.invalid.clone(),
            ..Plan::default()
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicyPlan {
    pub name: String,
    pub file: String,
    /// `spec.account`: absent for drctl's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub content_hash: String,
    pub table: String,
    pub region: String,
    pub stacks: Vec<StackPlan>,
    /// Point-in-time recovery on the table, when it differs from the policy.
    pub pitr: Option<PitrChange>,
    /// Why this policy could not be planned (AWS error); the others still are.
    pub error: Option<String>,
    /// What will not work as the policy says once applied, with the fix
    /// (the account's AWS Backup settings, for instance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl PolicyPlan {
    /// Every change of this plan that lowers protection, in words
    /// ("retention 35d → 7d", "point-in-time recovery turned off").
    pub fn weakening(&self) -> Vec<String> {
        let mut found: Vec<String> = self.stacks.iter().flat_map(|s| &s.semantic).filter(|c| c.weakens).map(|c| c.text.clone()).collect();
        if self.pitr.as_ref().is_some_and(|p| !p.to && p.from == Some(true)) {
            found.push("point-in-time recovery turned off".to_string());
        }
        found
    }
}

impl PolicyPlan {
    pub fn has_changes(&self) -> bool {
        self.pitr.is_some() || self.stacks.iter().any(|s| s.status != StackStatus::Unchanged)
    }
}

/// A stack shared by policies, planned once.
#[derive(Clone, Debug, Serialize)]
pub struct SharedStackPlan {
    #[serde(flatten)]
    pub plan: StackPlan,
    /// The policies it serves, by name.
    pub members: Vec<String>,
    /// The account it is in, when drctl reaches it by a role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackStatus {
    /// Not deployed yet.
    New,
    /// Deployed with another template or policy content.
    Changed,
    /// Deployed with this policy's content hash: no change set needed.
    Unchanged,
}

#[derive(Clone, Debug, Serialize)]
pub struct StackPlan {
    pub stack: String,
    pub region: String,
    pub role: StackRole,
    pub status: StackStatus,
    /// CloudFormation's status of the deployed stack, if any.
    pub deployed_status: Option<String>,
    /// The change in the policy's own terms ("retention 35d → 7d").
    pub semantic: Vec<DrChange>,
    /// Unified diff of the deployed template against the rendered one.
    pub template_diff: Option<String>,
    /// CloudFormation's own change-set preview.
    pub changes: Vec<ResourceChange>,
    /// Whether `changes` comes from a preview change set (dry runs) or was
    /// not asked for (an apply creates its own change sets).
    pub previewed: bool,
}

/// One change in DR terms. `weakens` marks a change that lowers protection
/// (shorter retention, fewer copies, a longer backup interval...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DrChange {
    pub text: String,
    pub weakens: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    Add,
    Modify,
    Remove,
    Import,
    Dynamic,
}

impl Action {
    /// The one change vocabulary: `+` add, `~` modify, `-` remove.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Add | Self::Import => "+",
            Self::Modify | Self::Dynamic => "~",
            Self::Remove => "-",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Replacement {
    True,
    False,
    Conditional,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    pub action: Action,
    pub logical_id: String,
    pub resource_type: String,
    /// Set for Modify; `True` and `Conditional` are called out loudly.
    pub replacement: Option<Replacement>,
    pub scope: Vec<String>,
    /// "Properties.BackupVaultName (requires recreation: Always)".
    pub details: Vec<String>,
}

impl OrphanStack {
    /// Whose stack it was, for a reader: "policy `x`" or "no policy (a
    /// shared stack none uses any more)".
    pub fn owner(&self) -> String {
        if self.shared { "no policy (a shared stack none uses any more)".to_string() } else { format!("policy `{}`", self.policy) }
    }
}

impl ResourceChange {
    pub fn replaces(&self) -> bool {
        matches!(self.replacement, Some(Replacement::True | Replacement::Conditional))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PitrChange {
    pub table: String,
    pub region: String,
    /// `None` when the table does not exist (yet).
    pub from: Option<bool>,
    pub to: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct OrphanStack {
    pub stack: String,
    pub region: String,
    /// The policy it belonged to; empty for a shared stack.
    pub policy: String,
    pub status: String,
    /// A vault or plan stack policies shared, which none uses any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    /// The account it is in, when drctl reaches it by a role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InvalidPolicy {
    pub file: String,
    pub findings: Vec<String>,
}
