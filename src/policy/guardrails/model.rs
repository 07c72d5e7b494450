//! The guardrails file, `desired/_guardrails.yaml` (`kind: Guardrails`), as
//! typed data: the organisation's rules for every policy's DR, and the
//! approved exceptions to them. Unknown fields are errors, as in policies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::policy::duration::Duration;
use crate::policy::model::{ApiVersion, Environment};

/// The rules every selected policy must meet, owned by a platform or
/// compliance team; application teams own their policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "drctl Guardrails (drctl/v1)")]
pub struct Guardrails {
    /// Always `drctl/v1`.
    pub api_version: ApiVersion,
    /// Always `Guardrails`.
    pub kind: GuardrailsKind,
    pub rules: Vec<Rule>,
    /// Approved departures from a rule for one policy, each until a date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GuardrailsKind {
    Guardrails,
}

/// One rule: which policies it applies to, what it requires, and who owns
/// it and why (both shown with every breach).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `[a-z0-9-]{1,63}`, unique; exceptions name it.
    #[schemars(regex(pattern = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub id: String,
    /// Why the rule exists, shown with every breach.
    pub reason: String,
    /// Who owns the rule (a team), shown with every breach.
    pub owner: String,
    /// Which policies the rule applies to; every policy when left out.
    #[serde(default)]
    pub select: Select,
    pub require: Require,
}

/// A policy is selected when it matches every criterion given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// The policy's `metadata.environment` is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<Environment>,
    /// The policy's name matches one of these patterns (`*` matches any run
    /// of characters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The policy's `metadata.owner` is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
}

/// What a selected policy must meet; every requirement given is checked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Require {
    /// `objectives.rpo` at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rpo: Option<Duration>,
    /// `objectives.rto` at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rto: Option<Duration>,
    /// `backup.retention` at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retention: Option<Duration>,
    /// Every copy's retention at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_copy_retention: Option<Duration>,
    /// At least one copy in another region.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub copy_to_another_region: bool,
    /// A vault lock, with at least this minimum retention when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_lock: Option<VaultLockRule>,
    /// `backup.point_in_time_recovery: true`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pitr: bool,
    /// `verify.every` at most this: proven at least this often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_verify_every: Option<Duration>,
    /// Checks every drill must run (`schema`, `item_count`, `sample`,
    /// `canary`, `query`, `fingerprint`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckName>,
    /// `verify.regions` includes a copy region: the DR copy is proven, not
    /// only the primary.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drill_in_copy_region: bool,
}

/// The vault-lock requirement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultLockRule {
    /// The lock's `min_retention` at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retention: Option<Duration>,
}

/// A check a rule may require, by its name in policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    Schema,
    ItemCount,
    Sample,
    Canary,
    Query,
    Fingerprint,
}

impl CheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schema => "schema",
            Self::ItemCount => "item_count",
            Self::Sample => "sample",
            Self::Canary => "canary",
            Self::Query => "query",
            Self::Fingerprint => "fingerprint",
        }
    }
}

/// An approved departure from `rule` for `policy`, until `expires`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub rule: String,
    pub policy: String,
    pub reason: String,
    pub approved_by: String,
    /// The last day it holds (`YYYY-MM-DD`, UTC); from the next day on the
    /// policy must meet the rule.
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub expires: String,
}
