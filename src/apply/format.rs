//! What an apply did, in words.

use super::*;

/// One line for an outcome, in the change vocabulary.
pub fn outcome_text(outcome: &StackOutcome) -> String {
    match outcome {
        StackOutcome::Unchanged => "unchanged".into(),
        StackOutcome::NoChanges => "no changes".into(),
        StackOutcome::Applied { status, .. } => format!("applied ({status})"),
        StackOutcome::Refused { why } => why.clone(),
        StackOutcome::Failed { status, reasons, fix } => {
            let mut text = format!("FAILED ({status}): {}", reasons.join("; "));
            if let Some(fix) = fix {
                text.push_str(&format!("\n      fix: {fix}"));
            }
            text
        }
        StackOutcome::Deleted { retained_vaults } if retained_vaults.is_empty() => "deleted".into(),
        StackOutcome::Deleted { retained_vaults } => {
            format!("deleted; retained vaults and their recovery points: {}", retained_vaults.join(", "))
        }
    }
}

/// The apply report for a terminal: every stack touched, failures with
/// their reasons at the end where a reader looks first.
pub fn report_text(report: &Report) -> String {
    let mut out = String::from("\nApply:\n");
    for policy in &report.policies {
        for stack in &policy.stacks {
            out.push_str(&format!("  {} ({}): {}\n", stack.stack, stack.region, outcome_text(&stack.outcome)));
        }
        if let Some(pitr) = &policy.pitr {
            out.push_str(&format!("  {}: point-in-time recovery {pitr}\n", policy.name));
        }
        if let Some(error) = &policy.error {
            out.push_str(&format!("  {}: FAILED: {error}\n", policy.name));
        }
    }
    for stack in &report.pruned {
        out.push_str(&format!("  - {} ({}): {}\n", stack.stack, stack.region, outcome_text(&stack.outcome)));
    }
    for orphan in &report.orphans_left {
        out.push_str(&format!("  {} ({}): orphan of {}, left alone (use --prune)\n", orphan.stack, orphan.region, orphan.owner()));
    }
    let failed: Vec<&str> = report.policies.iter().filter(|p| p.failed()).map(|p| p.name.as_str()).collect();
    if failed.is_empty() && !report.pruned.iter().any(|s| s.outcome.is_failure()) {
        out.push_str("Apply complete.\n");
    } else {
        out.push_str(&format!("Apply FAILED for: {}\n", failed.join(", ")));
    }
    out
}
