//! The reconcile report for people: one block per policy (what was applied,
//! each region's drill, the announcement), then orphans and invalid files.

use std::fmt::Write;

use super::{PolicyOutcome, Report, Status};
use crate::apply;
use crate::drill::DrillResult;
use crate::state::rfc3339;

/// The report as text.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for policy in &report.policies {
        policy_text(&mut out, policy);
    }
    for pruned in &report.pruned {
        let _ = writeln!(out, "pruned {} ({}): {}", pruned.stack, pruned.region, apply::outcome_text(&pruned.outcome));
    }
    for orphan in &report.orphans_left {
        let _ = writeln!(out, "orphan {} ({}) of {}: left alone (use --prune)", orphan.stack, orphan.region, orphan.owner());
    }
    for invalid in &report.invalid {
        let _ = writeln!(out, "invalid {}: not reconciled", invalid.file);
    }
    let _ = writeln!(out, "{}", summary(report));
    out
}

fn policy_text(out: &mut String, policy: &PolicyOutcome) {
    let _ = writeln!(out, "{}: {}", policy.policy, status_text(&policy.status));
    if let Some(applied) = &policy.apply {
        for stack in &applied.stacks {
            let _ = writeln!(out, "  {} ({}): {}", stack.stack, stack.region, apply::outcome_text(&stack.outcome));
        }
        if let Some(pitr) = &applied.pitr {
            let _ = writeln!(out, "  point-in-time recovery {pitr}");
        }
        if let Some(error) = &applied.error {
            let _ = writeln!(out, "  ! {error}");
        }
    }
    if let Some(reason) = &policy.drill_reason {
        let _ = writeln!(out, "  drill ({reason}):");
    }
    for drill in &policy.drills {
        drill_line(out, drill);
    }
    if let Some(id) = &policy.sns_message_id {
        let _ = writeln!(out, "  announced on SNS (message {id})");
    }
    for error in &policy.errors {
        let _ = writeln!(out, "  ! {error}");
    }
}

fn drill_line(out: &mut String, drill: &DrillResult) {
    for line in crate::drill::report::text(drill).lines() {
        let _ = writeln!(out, "    {line}");
    }
}

fn status_text(status: &Status) -> String {
    match status {
        Status::Reconciled => "reconciled (applied and proven by a drill)".into(),
        Status::Proven => "up to date (applied and proven)".into(),
        Status::AwaitingRetry { after } => {
            format!("last drill of this content did not pass (failed or inconclusive); retried after {}", rfc3339(*after))
        }
        Status::AwaitingRecoveryPoint { until } => {
            format!("applied; awaiting its first scheduled recovery point to drill (expected by {})", rfc3339(*until))
        }
        Status::ApplyFailed => "apply FAILED".into(),
        Status::WeakeningRefused { changes } => format!(
            "NOT APPLIED: weakens protection ({}) and --deny-weakening needs an approval (--allow-weakening-by NAME)",
            changes.join("; ")
        ),
        Status::DrillFailed => "drill FAILED: not reconciled".into(),
        Status::DrillInconclusive => {
            "drill INCONCLUSIVE: drctl or AWS could not complete it; nothing known against the recovery, retried soon".into()
        }
        Status::DrillPassed => "drill passed (not all drill regions, or content not applied: not marked reconciled)".into(),
        Status::Queued { capacity, next_lease_end } => format!(
            "queued: a drill is due, and all {capacity} shared restore slots are busy (the first to end by {} unless renewed); drilled by the next run",
            rfc3339(*next_lease_end)
        ),
        Status::Held { owner, expires } => format!("skipped: held by {owner} until {}", rfc3339(*expires)),
        Status::Stopped => "stopped before its next step".into(),
        Status::Error => "ERROR".into(),
    }
}

fn summary(report: &Report) -> String {
    let count = |f: fn(&Status) -> bool| report.policies.iter().filter(|p| f(&p.status)).count();
    let inconclusive = count(|s| *s == Status::DrillInconclusive);
    format!(
        "{} reconciled, {} up to date, {} waiting, {} drill failed, {} apply failed, {} skipped{}",
        count(|s| *s == Status::Reconciled),
        count(|s| *s == Status::Proven),
        count(|s| matches!(s, Status::AwaitingRetry { .. } | Status::AwaitingRecoveryPoint { .. } | Status::Queued { .. })),
        count(|s| *s == Status::DrillFailed),
        count(|s| matches!(s, Status::ApplyFailed | Status::WeakeningRefused { .. } | Status::Error)),
        count(|s| matches!(s, Status::Held { .. } | Status::Stopped)),
        if inconclusive > 0 { format!(", {inconclusive} drill inconclusive") } else { String::new() },
    )
}
