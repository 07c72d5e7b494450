//! A drill's result for people: one block per region with the recovery
//! point, the jobs, the scratch table, every check, RTO and RPO against the
//! objectives, the post-restore gaps and the reasons for a failure.

use super::DrillResult;

/// The block of one region's drill.
pub fn text(result: &DrillResult) -> String {
    let verdict = match result.verdict {
        super::Verdict::Passed => "PASSED",
        super::Verdict::Failed => "FAILED",
        super::Verdict::Inconclusive => "INCONCLUSIVE",
    };
    let mut out = format!("drill {} of {} in {}: {verdict}\n", result.drill_id, result.policy, result.region);
    if let Some(point) = &result.recovery_point {
        out.push_str(&format!("  recovery point {} (taken {})\n", point.arn, point.created));
    }
    if let Some(job) = &result.copy_job_id {
        out.push_str(&format!("  copied by job {job}\n"));
    }
    if let Some(table) = &result.scratch_table {
        out.push_str(&format!("  scratch table {table} ({:?})\n", result.scratch_cleanup));
    }
    for check in &result.checks {
        out.push_str(&format!("  {} {}: {}\n", if check.passed { "✓" } else { "✗" }, check.name, check.reason));
    }
    if let Some(rto) = &result.rto {
        out.push_str(&format!(
            "  RTO {:.1}s (objective {}s){}\n",
            rto.measured_seconds,
            rto.objective_seconds,
            if rto.met { "" } else { " MISSED" }
        ));
    }
    if let Some(rpo) = &result.rpo {
        out.push_str(&format!(
            "  RPO {:.1}s (objective {}s){}\n",
            rpo.measured_seconds,
            rpo.objective_seconds,
            if rpo.met { "" } else { " MISSED" }
        ));
    }
    for gap in &result.gaps {
        out.push_str(&format!("  gap {}: source {}, restored {}; {}\n", gap.setting, gap.source, gap.restored, gap.action));
    }
    for reason in &result.reasons {
        out.push_str(&format!("  ! {reason}\n"));
    }
    out
}
