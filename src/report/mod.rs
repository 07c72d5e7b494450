//! `drctl report`: the evidence people look at. From the inventory `status`
//! builds and the drill history, one report over an audit period: which
//! policies are compliant and why not, each table's measured RTO and RPO
//! against its targets over time, every drill's verdict and its evidence
//! chain (commit → change sets → jobs → checks → SNS message), and the
//! guardrail exceptions in force. Printed as JSON (the same data) or as one
//! self-contained HTML page (`html`).
//!
//! # Guarantees
//! - Everything comes from the state and its history: the report makes no
//!   AWS call and judges nothing `status` does not.
//! - The HTML page loads nothing (no script, no style sheet, no image from
//!   anywhere): styles and SVG charts are inline, and every value from the
//!   state or the policies is escaped.

mod chart;
mod html;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use html::html;

use crate::state::{DrillRecord, GapRecord, History, rfc3339};
use crate::status::{ExceptionStatus, Inventory, PolicyStatus};

/// The audit period (Unix seconds, both ends included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    pub since: u64,
    pub until: u64,
}

impl Period {
    fn holds(&self, at: u64) -> bool {
        (self.since..=self.until).contains(&at)
    }
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub generated_at: String,
    pub commit: Option<String>,
    pub period: PeriodText,
    pub summary: Summary,
    pub policies: Vec<PolicyReport>,
    pub exceptions: Vec<ExceptionStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PeriodText {
    pub since: String,
    pub until: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub policies: usize,
    pub compliant: usize,
    pub out_of_compliance: usize,
    pub drills: usize,
    pub drills_passed: usize,
    pub drills_failed: usize,
    pub drills_inconclusive: usize,
}

/// One policy over the period.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyReport {
    pub name: String,
    pub owner: Option<String>,
    pub table: String,
    pub region: String,
    pub environment: String,
    pub compliant: bool,
    /// Why not, one line each (empty when compliant).
    pub reasons: Vec<String>,
    pub rto_target_seconds: u64,
    pub rpo_target_seconds: u64,
    pub verify_every_seconds: u64,
    /// The last proven restore, if any (`rfc3339`).
    pub last_proven: Option<String>,
    /// Seconds between the last proof and the report.
    pub proof_age_seconds: Option<u64>,
    /// Every drill of the period, oldest first.
    pub drills: Vec<DrillPoint>,
}

/// One drill and its evidence chain.
#[derive(Clone, Debug, Serialize)]
pub struct DrillPoint {
    pub at: u64,
    pub at_text: String,
    pub drill_id: String,
    pub verdict: Verdict,
    pub commit: String,
    pub change_sets: Vec<String>,
    pub sns_message_id: Option<String>,
    /// Why it did not pass.
    pub reasons: Vec<String>,
    pub regions: Vec<RegionPoint>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    Inconclusive,
}

impl Verdict {
    fn of(drill: &DrillRecord) -> Self {
        match (drill.passed, drill.inconclusive) {
            (true, _) => Verdict::Passed,
            (false, true) => Verdict::Inconclusive,
            (false, false) => Verdict::Failed,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One region of a drill: what it measured and the jobs behind it.
#[derive(Clone, Debug, Serialize)]
pub struct RegionPoint {
    pub region: String,
    pub passed: bool,
    pub rto_seconds: Option<f64>,
    pub rpo_seconds: Option<f64>,
    pub recovery_point_arn: Option<String>,
    pub backup_job_id: Option<String>,
    pub copy_job_id: Option<String>,
    pub restore_job_id: Option<String>,
    pub checks: Vec<CheckPoint>,
    /// Settings the restore did not carry over (post-restore gaps).
    pub gaps: Vec<GapRecord>,
}

/// One check of a region's drill.
#[derive(Clone, Debug, Serialize)]
pub struct CheckPoint {
    pub passed: bool,
    /// `name: passed|failed — reason`.
    pub text: String,
}

/// The report of `inventory` (what `status` knows now) and `history` (the
/// drills of every policy) over `period`.
pub fn build(inventory: &Inventory, history: &[History], period: Period) -> Report {
    // One pass over the history, by policy: a fleet's year is tens of
    // thousands of entries.
    let mut by_policy: std::collections::HashMap<&str, Vec<&History>> = std::collections::HashMap::new();
    for entry in history.iter().filter(|h| period.holds(h.evidence.at)) {
        by_policy.entry(entry.policy.as_str()).or_default().push(entry);
    }
    let policies: Vec<PolicyReport> = inventory
        .policies
        .iter()
        .map(|p| policy_report(p, by_policy.get(p.name.as_str()).map_or(&[][..], Vec::as_slice), inventory.now))
        .collect();
    let drills = || policies.iter().flat_map(|p| &p.drills);
    let count = |verdict: Verdict| drills().filter(|d| d.verdict == verdict).count();
    let summary = Summary {
        policies: policies.len(),
        compliant: policies.iter().filter(|p| p.compliant).count(),
        out_of_compliance: policies.iter().filter(|p| !p.compliant).count(),
        drills: drills().count(),
        drills_passed: count(Verdict::Passed),
        drills_failed: count(Verdict::Failed),
        drills_inconclusive: count(Verdict::Inconclusive),
    };
    Report {
        format_version: 1,
        generated_at: rfc3339(inventory.now),
        commit: inventory.commit.clone(),
        period: PeriodText { since: rfc3339(period.since), until: rfc3339(period.until) },
        summary,
        policies,
        exceptions: inventory.exceptions.clone(),
    }
}

/// `status` and its `history` (already of this policy and period).
fn policy_report(status: &PolicyStatus, history: &[&History], now: u64) -> PolicyReport {
    let mut drills: Vec<DrillPoint> = history.iter().filter_map(|h| drill_point(&h.evidence)).collect();
    drills.sort_by_key(|d| d.at);
    drills.dedup_by(|a, b| a.drill_id == b.drill_id);
    PolicyReport {
        name: status.name.clone(),
        owner: status.owner.clone(),
        table: status.table.clone(),
        region: status.region.clone(),
        environment: status.environment.to_string(),
        compliant: status.compliant(),
        reasons: status.reasons.iter().map(|r| r.message()).collect(),
        rto_target_seconds: status.rto_target.seconds(),
        rpo_target_seconds: status.rpo_target.seconds(),
        verify_every_seconds: status.verify_every.seconds(),
        last_proven: status.last_proven.as_ref().map(|p| rfc3339(p.at)),
        proof_age_seconds: status.last_proven.as_ref().map(|p| now.saturating_sub(p.at)),
        drills,
    }
}

fn drill_point(evidence: &crate::state::Evidence) -> Option<DrillPoint> {
    let drill = evidence.drill.as_ref()?;
    Some(DrillPoint {
        at: drill.finished,
        at_text: rfc3339(drill.finished),
        drill_id: drill.drill_id.clone(),
        verdict: Verdict::of(drill),
        commit: drill.commit.clone(),
        change_sets: evidence
            .change_sets
            .iter()
            .map(|c| format!("{} ({}): {}", c.stack, c.region, c.change_set_id.as_deref().unwrap_or("no id recorded")))
            .collect(),
        sns_message_id: evidence.sns_message_id.clone(),
        reasons: drill.reasons.clone(),
        regions: drill
            .regions
            .iter()
            .map(|r| RegionPoint {
                region: r.region.clone(),
                passed: r.passed,
                rto_seconds: r.rto_seconds,
                rpo_seconds: r.rpo_seconds,
                recovery_point_arn: r.recovery_point_arn.clone(),
                backup_job_id: r.backup_job_id.clone(),
                copy_job_id: r.copy_job_id.clone(),
                restore_job_id: r.restore_job_id.clone(),
                checks: r
                    .checks
                    .iter()
                    .map(|c| CheckPoint {
                        passed: c.passed,
                        text: format!("{}: {} — {}", c.name, if c.passed { "passed" } else { "failed" }, c.reason),
                    })
                    .collect(),
                gaps: r.gaps.clone(),
            })
            .collect(),
    })
}

/// `YYYY-MM-DD` as Unix seconds at 00:00 UTC (`end_of_day`: 23:59:59).
pub fn parse_day(text: &str, end_of_day: bool) -> Option<u64> {
    let day = crate::policy::guardrails::parse_day(text)?;
    let start = u64::try_from(day).ok()?.checked_mul(86_400)?;
    Some(if end_of_day { start + 86_399 } else { start })
}
