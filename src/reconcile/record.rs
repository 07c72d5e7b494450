//! What a reconcile writes to the state about a drill and an apply: the
//! drill's record (per region, with its checks and reference) and the
//! change sets an apply executed.

use crate::apply::{PolicyReport, StackOutcome};
use crate::drill::DrillResult;
use crate::state::{self, ChangeSetRecord, CheckRecord, DrillRecord, GapRecord, ReferenceRecord, RegionDrill};

/// The change sets an apply executed, for the evidence chain.
pub(super) fn executed_change_sets(report: &PolicyReport) -> Vec<ChangeSetRecord> {
    report
        .stacks
        .iter()
        .filter_map(|s| match &s.outcome {
            StackOutcome::Applied { change_set_id, .. } => {
                Some(ChangeSetRecord { stack: s.stack.clone(), region: s.region.clone(), change_set_id: Some(change_set_id.clone()) })
            }
            _ => None,
        })
        .collect()
}

/// The state's summary of a policy's drills, started at `started`.
pub fn drill_record(drills: &[DrillResult], hash: &str, commit: &str, started: u64) -> DrillRecord {
    DrillRecord {
        drill_id: drills.first().map(|d| d.drill_id.clone()).unwrap_or_default(),
        started,
        finished: state::now(),
        content_hash: hash.to_string(),
        commit: commit.to_string(),
        passed: !drills.is_empty() && drills.iter().all(DrillResult::passed),
        inconclusive: !drills.is_empty()
            && drills.iter().any(DrillResult::inconclusive)
            && drills.iter().all(|d| d.passed() || d.inconclusive()),
        regions: drills.iter().map(region_drill).collect(),
        reasons: drills.iter().flat_map(|d| d.reasons.iter().map(move |r| format!("{}: {r}", d.region))).collect(),
    }
}

fn region_drill(drill: &DrillResult) -> RegionDrill {
    RegionDrill {
        region: drill.region.clone(),
        passed: drill.passed(),
        rto_seconds: drill.rto.as_ref().map(|r| r.measured_seconds),
        rto_objective_seconds: drill.rto.as_ref().map(|r| r.objective_seconds).unwrap_or_default(),
        rpo_seconds: drill.rpo.as_ref().map(|r| r.measured_seconds),
        rpo_objective_seconds: drill.rpo.as_ref().map(|r| r.objective_seconds).unwrap_or_default(),
        recovery_point_arn: drill.recovery_point.as_ref().map(|p| p.arn.clone()),
        backup_job_id: drill.recovery_point.as_ref().and_then(|p| p.backup_job_id.clone()),
        copy_job_id: drill.copy_job_id.clone(),
        restore_job_id: drill.restore_job_id.clone(),
        scratch_table: drill.scratch_table.clone(),
        checks: drill.checks.iter().map(|c| CheckRecord { name: c.name.clone(), passed: c.passed, reason: c.reason.clone() }).collect(),
        reference: drill.reference.as_ref().map(|r| ReferenceRecord {
            window_start: r.window.start.clone(),
            window_end: r.window.end.clone(),
            export_arns: r.exports.iter().map(|e| e.export_arn.clone()).collect(),
            changed_in_window: r.changed_in_window,
        }),
        gaps: drill
            .gaps
            .iter()
            .map(|g| GapRecord {
                setting: g.setting.clone(),
                source: g.source.clone(),
                restored: g.restored.clone(),
                action: g.action.clone(),
            })
            .collect(),
    }
}
