//! `drctl status`: the DR inventory an auditor asks for, per
//! desired policy: what it promises (schedule, retention, copies, PITR,
//! objectives), what drctl last proved (restore, RTO and RPO measured
//! against the targets), when the next proof is due, what is in flight,
//! and every reason the policy is out of compliance.
//!
//! Pure: desired policies and state records in, an [`Inventory`] out; the
//! renderers ([`text`], [`markdown`], [`json`]) turn it into strings or a
//! JSON value. Time is a parameter, so every rule is testable.
//!
//! # Guarantees
//! - A policy is compliant only when none of the rules of [`Reason`] holds;
//!   every format marks each policy that is not, with its reasons.
//! - State records no desired policy claims are listed as orphans, never
//!   dropped: a deleted policy's last proof stays visible.
//!
//! # Caveats
//! - RTO and RPO are those of the last drill (passed or failed), the worst
//!   over its regions, measured against the objectives of the policy as it
//!   is now desired.
//! - Times are the state's Unix seconds; a drifting clock on the machine
//!   that wrote them shifts "overdue" by as much.

mod format;

use std::collections::BTreeMap;

use serde::Serialize;

pub use format::{json, markdown, text};

use crate::markup::plural;
use crate::policy::TablePolicy;
use crate::policy::model::Environment;
use crate::state::{DrillRecord, Evidence, PolicyState};

/// What `drctl status` shows: every desired policy, the state records no
/// desired policy claims, and the policy files that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct Inventory {
    /// When the inventory was taken (Unix seconds).
    pub now: u64,
    /// The commit the desired policies were read at (`None`: a work tree).
    pub commit: Option<String>,
    /// Desired policies, by name.
    pub policies: Vec<PolicyStatus>,
    /// Records of policies no longer desired, by name.
    pub orphans: Vec<PolicyState>,
    /// Policy files with errors: their policy is desired but unreadable.
    pub invalid: Vec<InvalidPolicy>,
    /// The guardrail exceptions of `desired/_guardrails.yaml`, live or not.
    pub exceptions: Vec<ExceptionStatus>,
}

/// One guardrail exception, as status lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExceptionStatus {
    pub rule: String,
    pub policy: String,
    pub reason: String,
    pub approved_by: String,
    /// The last day it holds (`YYYY-MM-DD`).
    pub expires: String,
    /// Past its last day (or not a date): the policy must meet the rule.
    pub expired: bool,
}

/// One desired policy and what drctl knows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyStatus {
    pub name: String,
    pub owner: Option<String>,
    pub table: String,
    pub region: String,
    /// `spec.account`; `None` for drctl's own account.
    pub account: Option<String>,
    pub environment: Environment,
    /// The schedule as written: the expression, or `every: 6h`.
    pub schedule: String,
    pub retention: crate::policy::Duration,
    /// The vault in every region (the primary and each copy region).
    pub vault: String,
    pub copies: Vec<CopyStatus>,
    /// `None`: the policy leaves the table's PITR setting alone.
    pub point_in_time_recovery: Option<bool>,
    pub rto_target: crate::policy::Duration,
    pub rpo_target: crate::policy::Duration,
    pub verify_every: crate::policy::Duration,
    pub drill_regions: Vec<String>,
    /// The content hash of the policy as desired now.
    pub content_hash: String,
    /// The record as stored; `None` when drctl has never touched the policy.
    pub state: Option<PolicyState>,
    pub last_proven: Option<Proven>,
    /// The worst RTO over the last drill's regions.
    pub rto: Option<Measured>,
    /// The worst RPO over the last drill's regions.
    pub rpo: Option<Measured>,
    pub next_drill: NextDrill,
    /// Empty when the policy is compliant.
    pub reasons: Vec<Reason>,
}

impl PolicyStatus {
    pub fn compliant(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The evidence chain as stored, newest last.
    pub fn evidence(&self) -> &[Evidence] {
        self.state.as_ref().map_or(&[], |s| s.evidence.as_slice())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CopyStatus {
    pub region: String,
    pub retention: crate::policy::Duration,
    pub vault: String,
}

/// The newest restore drill that passed.
#[derive(Clone, Debug, PartialEq)]
pub struct Proven {
    /// When it finished (Unix seconds).
    pub at: u64,
    pub commit: String,
    pub content_hash: String,
    /// `None` when only the reconciled mark is left (its drill record was
    /// dropped from the evidence kept).
    pub drill_id: Option<String>,
    pub regions: Vec<String>,
}

/// A measured RTO or RPO against its target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    pub seconds: f64,
    /// The drill region that measured the worst value.
    pub region: String,
    pub target_seconds: u64,
    pub drill_id: String,
}

impl Measured {
    pub fn met(&self) -> bool {
        self.seconds <= self.target_seconds as f64
    }
}

/// When the next drill is due.
#[derive(Clone, Debug, PartialEq)]
pub enum NextDrill {
    /// Due now: the desired content has no proof.
    Now(&'static str),
    /// When reconcile renews the proof: the policy's slot in the period,
    /// no later than the last proof plus `verify.every` (in the past when
    /// the renewal is late).
    At(u64),
}

/// Why a policy is out of compliance: one rule each.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// drctl has no record of the policy at all.
    NoState,
    /// No drill ever passed for the policy.
    NeverProven,
    /// The last drill failed.
    LastDrillFailed {
        drill_id: String,
        at: u64,
        reason: String,
    },
    /// The last proof is older than `verify.every`.
    Overdue {
        proven_at: u64,
        due: u64,
    },
    RtoAboveTarget(Measured),
    RpoAboveTarget(Measured),
    /// The desired content differs from the proven one: a change not yet proven.
    ChangeNotProven {
        proven_hash: String,
    },
    /// The desired content differs from the applied one (or none is applied).
    NotApplied {
        applied_hash: Option<String>,
    },
}

impl Reason {
    /// A stable identifier, for JSON and for people who grep.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::NoState => "no-state",
            Self::NeverProven => "never-proven",
            Self::LastDrillFailed { .. } => "last-drill-failed",
            Self::Overdue { .. } => "overdue",
            Self::RtoAboveTarget(_) => "rto-above-target",
            Self::RpoAboveTarget(_) => "rpo-above-target",
            Self::ChangeNotProven { .. } => "change-not-proven",
            Self::NotApplied { .. } => "not-applied",
        }
    }

    /// One line a person reads.
    pub fn message(&self) -> String {
        match self {
            Self::NoState => "no state: drctl has never reconciled this policy".to_string(),
            Self::NeverProven => "never proven: no restore drill has passed".to_string(),
            Self::LastDrillFailed { drill_id, at, reason } => {
                format!("last drill failed ({drill_id}, {}): {reason}", crate::state::rfc3339(*at))
            }
            Self::Overdue { proven_at, due } => format!(
                "overdue: proof of {} is older than verify.every (due {})",
                crate::state::rfc3339(*proven_at),
                crate::state::rfc3339(*due)
            ),
            Self::RtoAboveTarget(m) => above_target("RTO", m),
            Self::RpoAboveTarget(m) => above_target("RPO", m),
            Self::ChangeNotProven { proven_hash } => {
                format!("change not yet proven: the proven content is {}, not the desired one", short(proven_hash))
            }
            Self::NotApplied { applied_hash: Some(hash) } => {
                format!("not applied: the deployed content is {}, not the desired one", short(hash))
            }
            Self::NotApplied { applied_hash: None } => "not applied: no stacks deployed by drctl".to_string(),
        }
    }
}

/// "RTO 1h 30m (5400s) above the target 1h (in us-east-1)": rounded for
/// reading, exact for the reader who doubts the rounding.
fn above_target(what: &str, m: &Measured) -> String {
    format!(
        "{what} {} ({:.0}s) above the target {} (in {})",
        human_seconds(m.seconds),
        m.seconds,
        human_seconds(m.target_seconds as f64),
        m.region
    )
}

/// A policy file that could not be read, with the record of its policy
/// when the file parsed far enough to name it.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidPolicy {
    pub file: String,
    pub policy: Option<String>,
    pub state: Option<PolicyState>,
    /// The guardrails the policy breaks (a guardrail added after it was
    /// deployed, say): drctl neither applies nor re-proves it meanwhile.
    pub guardrails: Vec<String>,
}

/// The counts every format shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub policies: usize,
    pub compliant: usize,
    pub out_of_compliance: usize,
    pub orphans: usize,
    pub invalid: usize,
}

impl Summary {
    /// "3 policies: 1 compliant, 2 out of compliance, 1 orphan state record, 0 invalid".
    pub fn sentence(&self) -> String {
        format!(
            "{}: {} compliant, {} out of compliance, {}, {} invalid",
            plural(self.policies, "policy", "policies"),
            self.compliant,
            self.out_of_compliance,
            plural(self.orphans, "orphan state record", "orphan state records"),
            self.invalid
        )
    }
}

impl Inventory {
    pub fn summary(&self) -> Summary {
        let compliant = self.policies.iter().filter(|p| p.compliant()).count();
        Summary {
            policies: self.policies.len(),
            compliant,
            out_of_compliance: self.policies.len() - compliant,
            orphans: self.orphans.len(),
            invalid: self.invalid.len(),
        }
    }

    /// Whether any desired policy is out of compliance or unreadable
    /// (`--detailed-exitcode`).
    pub fn out_of_compliance(&self) -> bool {
        !self.invalid.is_empty() || self.policies.iter().any(|p| !p.compliant())
    }

    /// The commit the policies were read at.
    pub fn with_commit(mut self, commit: Option<String>) -> Self {
        self.commit = commit;
        self
    }

    /// Adds the policy files that could not be read. A record named after
    /// one of their policies is that policy's, not an orphan: the policy is
    /// still desired, its file is broken.
    pub fn with_invalid(mut self, files: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        for (file, policy) in files {
            let state = policy.as_ref().and_then(|name| {
                let at = self.orphans.iter().position(|o| &o.policy == name)?;
                Some(self.orphans.remove(at))
            });
            self.invalid.push(InvalidPolicy { file, policy, state, guardrails: Vec::new() });
        }
        self.invalid.sort_by(|a, b| a.file.cmp(&b.file));
        self
    }

    /// Adds what the guardrails say: each invalid file's breaches (`file`,
    /// message), and every exception.
    pub fn with_guardrails(mut self, breaches: impl IntoIterator<Item = (String, String)>, exceptions: Vec<ExceptionStatus>) -> Self {
        for (file, message) in breaches {
            if let Some(invalid) = self.invalid.iter_mut().find(|i| i.file == file) {
                invalid.guardrails.push(message);
            }
        }
        self.exceptions = exceptions;
        self
    }
}

/// The inventory of `policies` (each valid policy with its content hash)
/// against the stored `states`, at `now` (Unix seconds).
/// The inventory of the valid policies of `checked` against `states`.
pub fn inventory_of(checked: &crate::policy::Checked, states: &[PolicyState], now: u64) -> Inventory {
    let desired: Vec<(&TablePolicy, String)> = checked.valid().map(|p| (&p.policy, crate::policy::content_hash(&p.policy))).collect();
    let pairs: Vec<(&TablePolicy, &str)> = desired.iter().map(|(p, h)| (*p, h.as_str())).collect();
    inventory(&pairs, states, now)
}

pub fn inventory(policies: &[(&TablePolicy, &str)], states: &[PolicyState], now: u64) -> Inventory {
    let mut records: BTreeMap<&str, &PolicyState> = states.iter().map(|s| (s.policy.as_str(), s)).collect();
    let mut statuses: Vec<PolicyStatus> =
        policies.iter().map(|(policy, hash)| policy_status(policy, hash, records.remove(policy.metadata.name.as_str()), now)).collect();
    statuses.sort_by(|a, b| a.name.cmp(&b.name));
    Inventory {
        now,
        commit: None,
        policies: statuses,
        orphans: records.into_values().cloned().collect(),
        invalid: Vec::new(),
        exceptions: Vec::new(),
    }
}

fn policy_status(policy: &TablePolicy, hash: &str, state: Option<&PolicyState>, now: u64) -> PolicyStatus {
    let name = policy.metadata.name.clone();
    let vault = crate::render::vault_in(policy, &policy.spec.region);
    let backup = &policy.spec.backup;
    let schedule = match (&backup.schedule, &backup.every) {
        (Some(expression), _) => expression.clone(),
        (None, Some(every)) => format!("every: {every}"),
        (None, None) => "none".to_string(),
    };
    let objectives = &policy.spec.objectives;
    let last_drill = state.and_then(|s| s.last_drill.as_ref());
    let rto = last_drill.and_then(|d| worst(d, |r| r.rto_seconds, objectives.rto.seconds()));
    let rpo = last_drill.and_then(|d| worst(d, |r| r.rpo_seconds, objectives.rpo.seconds()));
    let every = policy.spec.verify.every.seconds();
    let mut status = PolicyStatus {
        owner: policy.metadata.owner.clone(),
        table: policy.spec.table.clone(),
        region: policy.spec.region.clone(),
        account: policy.spec.account.clone(),
        environment: policy.metadata.environment,
        schedule,
        retention: backup.retention,
        copies: backup
            .copies
            .iter()
            .map(|c| CopyStatus {
                region: c.target(),
                retention: c.retention,
                vault: c.central_vault().map_or_else(|| vault.clone(), str::to_string),
            })
            .collect(),
        vault,
        point_in_time_recovery: backup.point_in_time_recovery,
        rto_target: objectives.rto,
        rpo_target: objectives.rpo,
        verify_every: policy.spec.verify.every,
        drill_regions: policy.spec.verify.regions.clone(),
        content_hash: hash.to_string(),
        state: state.cloned(),
        last_proven: state.and_then(last_proven),
        rto,
        rpo,
        next_drill: next_drill(&policy.metadata.name, state, hash, every),
        reasons: Vec::new(),
        name,
    };
    status.reasons = reasons(&status, state, now);
    status
}

/// The worst measurement over the drill's regions, with its target.
fn worst(drill: &DrillRecord, value: impl Fn(&crate::state::RegionDrill) -> Option<f64>, target_seconds: u64) -> Option<Measured> {
    drill
        .regions
        .iter()
        .filter_map(|r| value(r).filter(|v| v.is_finite()).map(|v| (v, &r.region)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(seconds, region)| Measured { seconds, region: region.clone(), target_seconds, drill_id: drill.drill_id.clone() })
}

/// The newest passed drill: the last drill, or one in the evidence kept;
/// failing both, the reconciled mark alone.
fn last_proven(state: &PolicyState) -> Option<Proven> {
    let drills = state.last_drill.iter().chain(state.evidence.iter().rev().filter_map(|e| e.drill.as_ref()));
    let passed = drills.filter(|d| d.passed).max_by_key(|d| d.finished);
    let reconciled = state.reconciled.as_ref();
    match passed {
        Some(drill) if reconciled.is_none_or(|r| r.at <= drill.finished) => Some(Proven {
            at: drill.finished,
            commit: drill.commit.clone(),
            content_hash: drill.content_hash.clone(),
            drill_id: Some(drill.drill_id.clone()),
            regions: drill.regions.iter().filter(|r| r.passed).map(|r| r.region.clone()).collect(),
        }),
        _ => reconciled.map(|r| Proven {
            at: r.at,
            commit: r.commit.clone(),
            content_hash: r.content_hash.clone(),
            drill_id: None,
            regions: Vec::new(),
        }),
    }
}

/// When reconcile renews the proof of the desired content (the policy's
/// slot, as [`crate::reconcile::reproof_at`] decides it); "now" when that
/// content has no proof.
fn next_drill(name: &str, state: Option<&PolicyState>, hash: &str, every: u64) -> NextDrill {
    match state.and_then(|s| s.reconciled.as_ref()) {
        Some(proven) if proven.content_hash == hash => {
            NextDrill::At(crate::reconcile::reproof_at(name, proven.at, std::time::Duration::from_secs(every)))
        }
        Some(_) => NextDrill::Now("changed since the last proof"),
        None => NextDrill::Now("never proven"),
    }
}

/// Every rule the policy breaks, in the order a reader should fix them.
fn reasons(status: &PolicyStatus, state: Option<&PolicyState>, now: u64) -> Vec<Reason> {
    let Some(state) = state else { return vec![Reason::NoState] };
    let hash = status.content_hash.as_str();
    let mut reasons = Vec::new();
    match &state.applied {
        Some(applied) if applied.content_hash == hash => {}
        applied => reasons.push(Reason::NotApplied { applied_hash: applied.as_ref().map(|a| a.content_hash.clone()) }),
    }
    match (&state.reconciled, &status.last_proven) {
        (None, None) => reasons.push(Reason::NeverProven),
        (Some(reconciled), _) if reconciled.content_hash != hash => {
            reasons.push(Reason::ChangeNotProven { proven_hash: reconciled.content_hash.clone() })
        }
        (None, Some(proven)) if proven.content_hash != hash => {
            reasons.push(Reason::ChangeNotProven { proven_hash: proven.content_hash.clone() })
        }
        _ => {}
    }
    // Overdue is the compliance rule (a proof older than verify.every), not
    // the renewal's slot, which comes earlier.
    if let Some(reconciled) = state.reconciled.as_ref().filter(|r| r.content_hash == hash) {
        let due = reconciled.at.saturating_add(status.verify_every.seconds());
        if due <= now {
            reasons.push(Reason::Overdue { proven_at: reconciled.at, due });
        }
    }
    if let Some(drill) = state.last_drill.as_ref().filter(|d| !d.passed) {
        let reason = drill.reasons.first().cloned().unwrap_or_else(|| "no reason recorded".to_string());
        reasons.push(Reason::LastDrillFailed { drill_id: drill.drill_id.clone(), at: drill.finished, reason });
    }
    if let Some(rto) = status.rto.as_ref().filter(|m| !m.met()) {
        reasons.push(Reason::RtoAboveTarget(rto.clone()));
    }
    if let Some(rpo) = status.rpo.as_ref().filter(|m| !m.met()) {
        reasons.push(Reason::RpoAboveTarget(rpo.clone()));
    }
    reasons
}

/// The first 12 characters of a hash or commit: enough to tell apart.
pub(crate) fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// `42.5s`, `5m 3s`, `2h 5m`, `3d 4h`: a span a person reads at a glance,
/// rounded to its second unit (so "6d 22h 59m 58s" reads `6d 23h`).
pub fn human_seconds(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return format!("{seconds}s");
    }
    if seconds < 59.95 {
        return format!("{seconds:.1}s");
    }
    let s = seconds.round() as u64;
    let (big, small, units) = if s >= 86_400 - 1800 {
        let hours = (s + 1800) / 3600;
        (hours / 24, hours % 24, ("d", "h"))
    } else if s >= 3600 - 30 {
        let minutes = (s + 30) / 60;
        (minutes / 60, minutes % 60, ("h", "m"))
    } else {
        (s / 60, s % 60, ("m", "s"))
    };
    if small == 0 { format!("{big}{}", units.0) } else { format!("{big}{} {small}{}", units.0, units.1) }
}

/// How far `at` is from `now`: `3d ago`, `in 6h`, `now`.
pub(crate) fn relative(at: u64, now: u64) -> String {
    let span = |d: u64| human_seconds(d as f64);
    match at.cmp(&now) {
        std::cmp::Ordering::Less => format!("{} ago", span(now - at)),
        std::cmp::Ordering::Greater => format!("in {}", span(at - now)),
        std::cmp::Ordering::Equal => "now".to_string(),
    }
}

#[cfg(test)]
mod tests;
